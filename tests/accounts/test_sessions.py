"""Sessions: an idle limit, an absolute limit from sign-in, cookies the browser drops when
it closes, and sign-out that ends the session on the server."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.middleware import SIGNED_IN_AT_KEY
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def session_cookie(client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def test_sign_in_records_when_it_happened(client, nurse):
    before = int(time.time())
    client.post("/login/", {"username": "nurse", "password": PASSWORD})
    assert before <= client.session[SIGNED_IN_AT_KEY] <= int(time.time())


def test_session_ends_after_the_absolute_lifetime_however_active(client, settings, nurse):
    settings.SESSION_ABSOLUTE_HOURS = 12
    client.force_login(nurse)
    assert client.get("/").status_code == 200
    old_key = session_cookie(client)

    session = client.session
    session[SIGNED_IN_AT_KEY] = int(time.time()) - 11 * 3600
    session.save()
    assert client.get("/").status_code == 200

    session = client.session
    session[SIGNED_IN_AT_KEY] = int(time.time()) - 12 * 3600 - 1
    session.save()
    response = client.get("/patients/", follow=True)

    assert response.redirect_chain[0][0].startswith("/login/?next=")
    assert "Your session has ended" in response.content.decode()
    assert not Session.objects.filter(session_key=old_key).exists()
    assert client.get("/").status_code == 302


def test_api_session_past_its_lifetime_is_refused(client, nurse):
    client.force_login(nurse)
    session = client.session
    session[SIGNED_IN_AT_KEY] = int(time.time()) - django_settings.SESSION_ABSOLUTE_HOURS * 3600
    session.save()
    assert client.get("/api/v1/worklist/").status_code in (401, 403)


def test_idle_session_expires_on_the_server(client, nurse):
    client.force_login(nurse)
    assert client.get("/").status_code == 200
    key = session_cookie(client)
    stored = Session.objects.get(session_key=key)
    idle = timedelta(minutes=django_settings.SESSION_IDLE_MINUTES)
    # Each request pushes the expiry to "idle limit from now".
    assert abs(stored.expire_date - (timezone.now() + idle)) < timedelta(seconds=30)

    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    assert client.get("/")["Location"].startswith("/login/")


def test_session_cookie_is_secure_httponly_and_dies_with_the_browser(client, nurse):
    response = client.post("/login/", {"username": "nurse", "password": PASSWORD})
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["secure"]  # the suite runs with DEBUG false
    assert cookie["samesite"] == "Lax"
    assert not cookie["max-age"] and not cookie["expires"]


def test_sign_out_ends_the_session_on_the_server(client, nurse):
    client.post("/login/", {"username": "nurse", "password": PASSWORD})
    key = session_cookie(client)
    assert client.get("/").status_code == 200

    client.post("/logout/")

    assert not Session.objects.filter(session_key=key).exists()
    replay = Client()
    replay.cookies[django_settings.SESSION_COOKIE_NAME] = key
    assert replay.get("/")["Location"].startswith("/login/")
    assert replay.get("/api/v1/worklist/").status_code in (401, 403)


def _settings_from_env(**env) -> list[str]:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_AGE, s.SESSION_ABSOLUTE_HOURS, s.MFA_REQUIRED, "
        "s.SESSION_EXPIRE_AT_BROWSER_CLOSE, s.SESSION_COOKIE_SECURE)"
    )
    ours = {"DEBUG", "MFA_REQUIRED", "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS"}
    full_env = {k: v for k, v in os.environ.items() if k not in ours}
    full_env.update(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="x" * 50, **env)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_limits_come_from_the_environment():
    assert _settings_from_env(
        DEBUG="false", SESSION_IDLE_MINUTES="7", SESSION_ABSOLUTE_HOURS="3", MFA_REQUIRED="true"
    ) == ["420", "3", "True", "True", "True"]  # fmt: skip


def test_mfa_is_required_by_default_unless_debug():
    assert _settings_from_env(DEBUG="false")[:3] == ["900", "12", "True"]
    assert _settings_from_env(DEBUG="true")[2] == "False"


@pytest.mark.django_db(transaction=True)
def test_the_idle_timer_save_does_not_wait_for_the_disk_but_sign_in_does(nurse):
    """Each page moves the session's expiry; that save alone commits without waiting for the
    disk (config/sessions.py). A save that changes the session's data waits, as before."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    with CaptureQueriesContext(connection) as signing_in:
        client.post("/login/", {"username": "nurse", "password": PASSWORD})
    key = session_cookie(client)
    assert not [q for q in signing_in.captured_queries if "synchronous_commit" in q["sql"]]

    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(1))
    with CaptureQueriesContext(connection) as browsing:
        assert client.get("/patients/").status_code == 200
    sql = [q["sql"] for q in browsing.captured_queries]
    bump = next(i for i, s in enumerate(sql) if s.startswith('UPDATE "django_session"'))
    assert sql[bump - 1] == "SET LOCAL synchronous_commit TO OFF"
    # Committed and visible to any other connection straight away, at "idle limit from now".
    idle = timedelta(minutes=django_settings.SESSION_IDLE_MINUTES)
    with connection.temporary_connection() as other:
        other.execute("SELECT expire_date FROM django_session WHERE session_key = %s", [key])
        (expires,) = other.fetchone()
    assert abs(expires - (timezone.now() + idle)) < timedelta(seconds=30)
    # The next statement on this connection is back to waiting for the disk.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db(transaction=True)
def test_the_idle_timer_does_not_bring_back_a_session_signed_out_meanwhile(nurse):
    from django.contrib.sessions.backends.base import UpdateError
    from django.utils.module_loading import import_string

    client = Client()
    client.post("/login/", {"username": "nurse", "password": PASSWORD})
    key = session_cookie(client)
    store = import_string(f"{django_settings.SESSION_ENGINE}.SessionStore")(key)
    assert store.get(SIGNED_IN_AT_KEY)  # loaded, unchanged: the idle-timer save
    Session.objects.filter(session_key=key).delete()  # signed out in another tab

    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.filter(session_key=key).exists()

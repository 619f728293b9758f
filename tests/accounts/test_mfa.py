"""Two-step sign-in: setting up an authenticator, the code step at sign-in, backup codes,
the token endpoint, and what MFA_REQUIRED changes."""

import re

import pytest
from django.db import connection
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts import mfa
from accounts.api.views import OTP_MISSING, OTP_NOT_SET_UP, OTP_REFUSED, SIGN_IN_REFUSED
from accounts.models import ApiToken, BackupCode, backup_code_hash, backup_code_matches
from tests.conftest import PASSWORD
from tests.tokens import api_token
from tests.two_step import (
    authenticator,
    code_for,
    force_login_verified,
    unused_code,
    wrong_code,
)

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def mfa_on(settings):
    settings.MFA_REQUIRED = True
    return settings


@pytest.fixture
def mfa_off(settings):
    settings.MFA_REQUIRED = False
    return settings


def sign_in(client, username, password=PASSWORD, next_url=""):
    url = f"/login/?next={next_url}" if next_url else "/login/"
    return client.post(url, {"username": username, "password": password})


def assert_clean_page(html: str) -> None:
    """Strict CSP: nothing from another host, no inline script or style."""
    assert "<script" not in html
    assert "style=" not in html and "<style" not in html
    assert "javascript:" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


# --- Setting up an authenticator --------------------------------------------------------


def test_enrolment_end_to_end_under_mfa(client, mfa_on, nurse):
    # The password alone signs in, but every page leads to the set-up page first.
    response = sign_in(client, "nurse")
    assert response.status_code == 302
    response = client.get("/patients/")
    assert response.status_code == 302
    assert response["Location"] == "/account/security/setup/?next=%2Fpatients%2F"

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg class="qr-code"' in html
    assert_clean_page(html)
    device = TOTPDevice.objects.get(user=nurse)
    assert not device.confirmed
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html).group(1)
    assert secret.replace(" ", "") in device.config_url

    # Reloading shows the same key: one device being set up, not one per visit.
    client.get("/account/security/setup/?next=/patients/")
    assert TOTPDevice.objects.filter(user=nurse).count() == 1

    refused = client.post(
        "/account/security/setup/", {"otp_token": wrong_code(device), "next": "/patients/"}
    )
    assert refused.status_code == 200
    assert "That code did not match" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    device.throttling_failure_count = 0  # django-otp slows guesses; this is not one
    device.save()
    done = client.post(
        "/account/security/setup/", {"otp_token": code_for(device), "next": "/patients/"}
    )
    assert done.status_code == 200
    html = done.content.decode()
    assert_clean_page(html)
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", html)
    assert len(codes) == mfa.BACKUP_CODE_COUNT
    # Kept as hashes only; each code shown matches one of them.
    stored = list(BackupCode.objects.filter(device__user=nurse).values_list("code_hash", flat=True))
    assert len(stored) == mfa.BACKUP_CODE_COUNT
    assert not StaticToken.objects.filter(device__user=nurse).exists()
    for code in codes:
        assert not any(code in value for value in stored)
    assert 'href="/patients/"' in html
    device.refresh_from_db()
    assert device.confirmed

    # The session that set it up counts as verified: the pages open.
    assert client.get("/patients/").status_code == 200
    assert client.get("/account/security/setup/")["Location"] == "/account/security/"
    overview = client.get("/account/security/").content.decode()
    assert "Backup codes left: <strong>10</strong>" in overview


def test_user_without_authenticator_is_held_at_set_up_when_required(client, mfa_on, admin_user):
    client.force_login(admin_user)
    for path in ["/", "/admin/", "/admin/accounts/user/", "/account/security/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/account/security/setup/?next="), path
    api = client.get("/api/v1/worklist/")
    assert api.status_code == 403
    assert "two-step" in api.json()["detail"]
    htmx = client.get("/patients/", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"].startswith("/account/security/setup/")
    # Signing out and the probes stay reachable.
    assert client.get("/healthz").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/")["Location"].startswith("/login/")


def test_password_alone_is_enough_when_not_required(client, mfa_off, nurse):
    response = sign_in(client, "nurse")
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    # ...and setting one up is still offered.
    assert client.get("/account/security/setup/").status_code == 200


def test_force_logged_in_user_passes_when_not_required(client, mfa_off, nurse):
    client.force_login(nurse)
    assert client.get("/").status_code == 200


def test_user_may_enrol_when_not_required_and_is_then_asked_for_codes(client, mfa_off, nurse):
    client.force_login(nurse)
    client.get("/account/security/setup/")
    device = TOTPDevice.objects.get(user=nurse)
    client.post("/account/security/setup/", {"otp_token": code_for(device)})
    assert mfa.has_authenticator(nurse)
    client.post("/logout/")

    response = sign_in(client, "nurse")
    assert response["Location"] == "/login/code/"


# --- The code step at sign-in -------------------------------------------------------------


@pytest.mark.parametrize("required", [True, False])
def test_sign_in_with_password_then_code(client, settings, nurse, required):
    settings.MFA_REQUIRED = required
    device = authenticator(nurse)

    response = sign_in(client, "nurse", next_url="/patients/")
    assert response.status_code == 302
    assert response["Location"] == "/login/code/"
    # Not signed in yet: the password alone opens nothing.
    assert client.get("/patients/")["Location"].startswith("/login/")

    page = client.get("/login/code/")
    assert page.status_code == 200
    assert_clean_page(page.content.decode())
    response = client.post("/login/code/", {"otp_token": code_for(device)})
    assert response.status_code == 302
    assert response["Location"] == "/patients/"
    assert client.get("/patients/").status_code == 200
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_wrong_code_is_refused(client, mfa_on, nurse):
    device = authenticator(nurse)
    sign_in(client, "nurse")

    response = client.post("/login/code/", {"otp_token": wrong_code(device)})

    assert response.status_code == 200
    assert "That code was not accepted" in response.content.decode()
    assert client.get("/")["Location"].startswith("/login/")


def test_a_code_is_accepted_only_once(client, mfa_on, nurse):
    device = authenticator(nurse)
    code = code_for(device)
    sign_in(client, "nurse")
    assert client.post("/login/code/", {"otp_token": code}).status_code == 302
    client.post("/logout/")

    sign_in(client, "nurse")
    response = client.post("/login/code/", {"otp_token": code})

    assert response.status_code == 200
    assert client.get("/")["Location"].startswith("/login/")


def test_code_step_without_a_password_goes_back_to_sign_in(client, nurse):
    assert client.get("/login/code/")["Location"] == "/login/"
    assert client.post("/login/code/", {"otp_token": "123456"})["Location"] == "/login/"


def test_code_step_expires(client, mfa_on, nurse):
    authenticator(nurse)
    sign_in(client, "nurse")
    session = client.session
    session["two_step_pending"]["started_at"] -= mfa_on.MFA_LOGIN_TIMEOUT + 1
    session.save()

    response = client.get("/login/code/", follow=True)

    assert response.redirect_chain[-1][0] == "/login/"
    assert "took too long" in response.content.decode()


def test_backup_code_works_once(client, mfa_on, nurse):
    authenticator(nurse)
    codes = mfa.backup_codes_replace(user=nurse)

    sign_in(client, "nurse")
    response = client.post("/login/code/", {"otp_token": codes[0].upper()}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert f"{mfa.BACKUP_CODE_COUNT - 1} left" in response.content.decode()
    client.post("/logout/")

    sign_in(client, "nurse")
    again = client.post("/login/code/", {"otp_token": codes[0]})
    assert again.status_code == 200
    assert "That code was not accepted" in again.content.decode()
    # django-otp makes the next guess wait a second after a wrong one; skip the wait.
    StaticDevice.objects.filter(user=nurse).update(throttling_failure_count=0)
    assert client.post("/login/code/", {"otp_token": codes[1]}).status_code == 302


def test_new_backup_codes_replace_the_old_ones(client, mfa_on, nurse):
    old = mfa.backup_codes_replace(user=nurse)
    force_login_verified(client, nurse)

    response = client.post("/account/security/backup-codes/")

    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(new) == mfa.BACKUP_CODE_COUNT and not set(new) & set(old)
    assert mfa.verify_code(user=nurse, code=old[0]) is None


def test_backup_codes_are_stored_as_salted_hashes_only(nurse, oncologist):
    codes = mfa.backup_codes_replace(user=nurse)
    with connection.cursor() as cursor:
        cursor.execute("SELECT code_hash FROM accounts_backupcode")
        stored = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM otp_static_statictoken")
        assert cursor.fetchone()[0] == 0
    assert len(stored) == len(set(stored)) == mfa.BACKUP_CODE_COUNT
    assert all(h.startswith("pbkdf2_sha256$") for h in stored)
    assert not any(code in h for code in codes for h in stored)
    # Salted: the same code for two people is stored differently.
    code = codes[0]
    device = BackupCode.objects.filter(device__user=nurse).first().device
    same = BackupCode.objects.create(device=device, code_hash=backup_code_hash(code))
    assert same.code_hash != next(h for h in stored if backup_code_matches(code, h))
    # Checked by hash: another user's code is not this user's.
    assert mfa.verify_code(user=oncologist, code=code) is None
    assert mfa.verify_code(user=nurse, code=code) is not None


def test_plain_text_backup_codes_are_hashed_by_the_migration(nurse):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("accounts.migrations.0006_hashed_backup_codes_interface_group")
    device = StaticDevice.objects.create(user=nurse, name=mfa.BACKUP_DEVICE_NAME, confirmed=True)
    StaticToken.objects.create(device=device, token="abcd2345")

    migration.hash_backup_codes(apps, None)

    assert not StaticToken.objects.exists()
    assert mfa.backup_codes_left(nurse) == 1
    assert mfa.verify_code(user=nurse, code="ABCD-2345") is not None
    assert mfa.backup_codes_left(nurse) == 0


def test_new_backup_codes_need_a_verified_session(client, mfa_off, nurse):
    authenticator(nurse)
    client.force_login(nurse)  # password-only session
    assert client.post("/account/security/backup-codes/").status_code == 403


def test_unverified_session_of_an_enrolled_user_must_sign_in_again(client, mfa_on, nurse):
    authenticator(nurse)
    client.force_login(nurse)  # e.g. a session opened before the authenticator was set up

    response = client.get("/patients/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/login/")
    assert client.get("/")["Location"].startswith("/login/")


def test_verified_session_helper_passes_under_mfa(client, mfa_on, oncologist):
    force_login_verified(client, oncologist)
    assert client.get("/").status_code == 200


def test_admin_site_signs_in_through_the_two_steps(client, mfa_on, admin_user):
    response = client.get("/admin/login/?next=/admin/accounts/user/")
    assert response["Location"] == "/login/?next=%2Fadmin%2Faccounts%2Fuser%2F"
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    device = authenticator(admin_user)
    sign_in(client, "administrator", next_url="/admin/accounts/user/")
    response = client.post("/login/code/", {"otp_token": code_for(device)})
    assert response["Location"] == "/admin/accounts/user/"
    assert client.get("/admin/accounts/user/").status_code == 200


def test_clinicians_are_not_sent_round_the_admin_login(client, mfa_off, nurse):
    client.force_login(nurse)
    assert client.get("/admin/login/?next=/admin/").status_code == 403


# --- The token endpoint ---------------------------------------------------------------------


def token(client, **body):
    return client.post(TOKEN_URL, body, content_type="application/json")


def test_token_needs_no_code_when_not_required(client, mfa_off, nurse):
    authenticator(nurse)
    response = token(client, username="nurse", password=PASSWORD)
    assert response.status_code == 200


def test_token_needs_the_current_code_when_required(client, mfa_on, nurse):
    device = authenticator(nurse)

    missing = token(client, username="nurse", password=PASSWORD)
    assert missing.status_code == 400
    assert missing.json() == {"otp": [OTP_MISSING]}

    wrong = token(client, username="nurse", password=PASSWORD, otp=wrong_code(device))
    assert wrong.status_code == 400
    assert wrong.json() == {"otp": [OTP_REFUSED]}
    assert not ApiToken.objects.filter(user=nurse).exists()

    device.refresh_from_db()
    device.throttling_failure_count = 0  # the wrong guess above slows the next one
    device.save()
    right = token(client, username="nurse", password=PASSWORD, otp=unused_code(device))
    assert right.status_code == 200
    assert ApiToken.objects.filter(user=nurse).count() == 1
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {right.json()['token']}")
    assert api.get("/api/v1/worklist/").status_code == 200


def test_token_refuses_a_user_without_an_authenticator_when_required(client, mfa_on, nurse):
    response = token(client, username="nurse", password=PASSWORD, otp="123456")
    assert response.status_code == 400
    assert response.json() == {"otp": [OTP_NOT_SET_UP]}


def test_token_backup_codes_are_not_accepted(client, mfa_on, nurse):
    authenticator(nurse)
    codes = mfa.backup_codes_replace(user=nurse)
    response = token(client, username="nurse", password=PASSWORD, otp=codes[0])
    assert response.status_code == 400
    assert mfa.backup_codes_left(nurse) == mfa.BACKUP_CODE_COUNT


@pytest.mark.parametrize("username", ["nurse", "nobody-by-that-name"])
def test_token_wrong_password_says_nothing_about_the_username_or_code(
    client, mfa_on, nurse, username
):
    device = authenticator(nurse)
    response = token(client, username=username, password="wrong", otp=code_for(device))
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [SIGN_IN_REFUSED]}


def test_token_schema_documents_the_code(client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["components"]["schemas"]["TokenRequestRequest"]
    assert "otp" in body["properties"] and "otp" not in body["required"]


# --- Administration -------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    force_login_verified(client, admin_user)
    return client


def test_admin_never_shows_tokens(admin_client, nurse):
    key = api_token(nurse)

    page = admin_client.get(f"/admin/accounts/user/{nurse.pk}/change/").content.decode()

    assert key not in page
    assert f"{key[:8]}…" in page
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert admin_client.get("/admin/knox/authtoken/").status_code == 404
    assert key not in admin_client.get("/admin/").content.decode()


def test_admin_revokes_api_tokens(admin_client, client, nurse):
    key = api_token(nurse)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/worklist/").status_code == 200

    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "revoke_api_tokens", "_selected_action": [nurse.pk]},
    )

    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=nurse).exists()
    assert api.get("/api/v1/worklist/").status_code == 401


def test_admin_resets_two_step_sign_in_and_that_revokes_api_tokens(admin_client, nurse):
    authenticator(nurse)
    mfa.backup_codes_replace(user=nurse)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(nurse)}")

    admin_client.post(
        "/admin/accounts/user/", {"action": "reset_two_step", "_selected_action": [nurse.pk]}
    )

    assert not mfa.has_authenticator(nurse)
    assert mfa.backup_codes_left(nurse) == 0
    assert not BackupCode.objects.exists()
    assert api.get("/api/v1/worklist/").status_code == 401
    listing = admin_client.get("/admin/accounts/user/").content.decode()
    assert "Two-step" in listing


def test_admin_sees_no_authenticator_keys(admin_client, nurse):
    device = authenticator(nurse)
    page = admin_client.get(f"/admin/accounts/user/{nurse.pk}/change/").content.decode()
    assert device.key not in page
    # The device admin is for superusers only.
    assert admin_client.get("/admin/otp_totp/totpdevice/").status_code == 403

"""Passwords: at least 12 characters and not a common one (ASVS 2.1.1); users change their
own (the current password, the two-step code when they have an authenticator, the new one
twice), which signs out their other sessions, keeps this one and revokes their API tokens."""

import io
import sys

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.conftest import PASSWORD
from tests.tokens import api_token
from tests.two_step import authenticator, force_login_verified, unused_code, wrong_code

pytestmark = pytest.mark.django_db
URL = "/account/password/"
NEW = "a-brand-new-passphrase"


def createuser(password: str):
    saved, sys.stdin = sys.stdin, io.StringIO(password + "\n")
    try:
        call_command(
            "createuser", "kim", "--role", "nurse", "--password-stdin", stdout=io.StringIO()
        )
    finally:
        sys.stdin = saved


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("elevenchars", "at least 12 characters"),
        ("password1234", "too common"),
        ("1q2w3e4r5t6y", "too common"),
    ],
)
def test_short_and_common_passwords_are_refused(password, message):
    with pytest.raises(CommandError, match=message):
        createuser(password)


def test_twelve_characters_are_enough():
    createuser("twelve-chars")


def change(client, old=PASSWORD, new=NEW, again=None, follow=False, **extra):
    return client.post(
        URL,
        {"old_password": old, "new_password1": new, "new_password2": again or new, **extra},
        REMOTE_ADDR="10.4.0.1",
        follow=follow,
    )


def test_change_ends_other_sessions_keeps_this_one_and_revokes_tokens(client, nurse):
    client.force_login(nurse)
    elsewhere = Client()
    elsewhere.force_login(nurse)
    assert elsewhere.get("/").status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(nurse)}")

    page = client.get(URL)
    assert page.status_code == 200
    assert 'name="otp_token"' not in page.content.decode()  # no authenticator: no code
    response = change(client, follow=True)

    assert response.redirect_chain[-1][0] == "/account/security/"
    assert "Your password was changed" in response.content.decode()
    assert client.get("/").status_code == 200
    assert elsewhere.get("/")["Location"].startswith("/login/")
    assert api.get("/api/v1/worklist/").status_code == 401
    assert not ApiToken.objects.filter(user=nurse).exists()
    nurse.refresh_from_db()
    assert nurse.check_password(NEW)


def test_wrong_current_password_is_refused_and_counts_towards_the_lock(client, nurse):
    client.force_login(nurse)
    for _ in range(4):
        response = change(client, old="not-my-password")
        assert response.status_code == 200
        assert "Your old password was entered incorrectly" in response.content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(PASSWORD)

    locked = change(client, old="not-my-password")
    assert locked.status_code == 429
    # Signed out: whoever holds the session could not prove to be the user.
    assert client.get("/")["Location"].startswith("/login/")


def test_new_password_must_be_typed_twice_and_pass_the_rules(client, nurse):
    client.force_login(nurse)
    mismatch = change(client, again=NEW + "x")
    assert "The two password fields didn" in mismatch.content.decode()
    short = change(client, new="short-one")
    assert "at least 12 characters" in short.content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(PASSWORD)


def test_with_an_authenticator_the_current_code_is_needed(client, settings, nurse):
    settings.MFA_REQUIRED = True
    device = force_login_verified(client, nurse)
    assert 'name="otp_token"' in client.get(URL).content.decode()

    missing = change(client)
    assert missing.status_code == 200
    assert "This field is required" in missing.content.decode()
    wrong = change(client, otp_token=wrong_code(device))
    assert "That code was not accepted" in wrong.content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(PASSWORD)

    device.refresh_from_db()
    device.throttling_failure_count = 0  # the wrong guess above slows the next one
    device.save()
    done = change(client, otp_token=unused_code(device))
    assert done.status_code == 302
    nurse.refresh_from_db()
    assert nurse.check_password(NEW)
    assert client.get("/").status_code == 200  # still verified


def test_anyone_signed_in_without_an_authenticator_needs_no_code(client, oncologist):
    authenticator(oncologist)  # a set-up not yet confirmed does not count
    oncologist_devices = oncologist.totpdevice_set.all()
    oncologist_devices.update(confirmed=False)
    client.force_login(oncologist)
    assert change(client).status_code == 302

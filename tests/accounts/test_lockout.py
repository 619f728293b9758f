"""Lockout: 5 failed sign-ins for one username from one address lock that pair for 15
minutes, on the sign-in page, the code step and the token endpoint alike; 20 from one
address across usernames lock the address, 10 for one username across addresses lock the
username, for the same 15 minutes."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from axes.utils import reset
from django.utils import timezone

from accounts.lockout import lockout_message
from tests.conftest import PASSWORD
from tests.two_step import authenticator, code_for, force_login_verified, wrong_code

pytestmark = pytest.mark.django_db
MESSAGE = (
    "Too many failed sign-in attempts. Try again in 15 minutes or ask an administrator "
    "to unlock you."
)
TOKEN_URL = "/api/v1/auth/token/"


def sign_in(client, username, password, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def enter_code(client, code, address="10.0.0.1"):
    return client.post("/login/code/", {"otp_token": code}, REMOTE_ADDR=address)


def token(client, address="10.0.0.1", **body):
    return client.post(TOKEN_URL, body, content_type="application/json", REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_settings_and_message():
    assert lockout_message() == MESSAGE


def test_fifth_failure_locks_and_even_the_right_password_is_then_refused(client, nurse):
    for _ in range(4):
        response = sign_in(client, "nurse", "wrong-password")
        assert response.status_code == 200
        assert "enter a correct username and password" in response.content.decode()

    fifth = sign_in(client, "nurse", "wrong-password")
    assert fifth.status_code == 429
    assert MESSAGE in fifth.content.decode()

    sixth = sign_in(client, "nurse", PASSWORD)
    assert sixth.status_code == 429
    html = sixth.content.decode()
    assert MESSAGE in html
    # Nothing says which part was wrong.
    assert "password" not in html.lower().replace('type="password"', "")
    assert not signed_in(client)


def test_unknown_username_is_locked_out_the_same_way(client):
    responses = [sign_in(client, "nobody-here", "wrong") for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 4 + [429, 429]
    assert MESSAGE in responses[-1].content.decode()


def test_lock_holds_one_username_from_one_address_only(client, nurse, oncologist):
    for _ in range(5):
        sign_in(client, "nurse", "wrong", address="10.0.0.1")

    assert sign_in(client, "nurse", PASSWORD, address="10.0.0.1").status_code == 429
    assert sign_in(client, "onc", PASSWORD, address="10.0.0.1").status_code == 302
    client.post("/logout/")
    assert sign_in(client, "nurse", PASSWORD, address="10.0.0.2").status_code == 302


def test_success_clears_earlier_failures(client, nurse):
    for _ in range(4):
        sign_in(client, "nurse", "wrong")
    assert sign_in(client, "nurse", PASSWORD).status_code == 302
    client.post("/logout/")
    for _ in range(4):
        assert sign_in(client, "nurse", "wrong").status_code == 200
    assert sign_in(client, "nurse", PASSWORD).status_code == 302


def test_unlocks_after_the_cool_off(client, nurse):
    for _ in range(5):
        sign_in(client, "nurse", "wrong")
    assert sign_in(client, "nurse", PASSWORD).status_code == 429

    # 15 minutes pass (the attempt record is what axes dates the lock from).
    AccessAttempt.objects.filter(username="nurse").update(
        attempt_time=timezone.now() - timedelta(minutes=15, seconds=1)
    )

    assert sign_in(client, "nurse", PASSWORD).status_code == 302
    assert signed_in(client)


def test_still_locked_just_before_the_cool_off_ends(client, nurse):
    for _ in range(5):
        sign_in(client, "nurse", "wrong")
    AccessAttempt.objects.filter(username="nurse").update(
        attempt_time=timezone.now() - timedelta(minutes=14)
    )
    assert sign_in(client, "nurse", PASSWORD).status_code == 429


def test_axes_reset_unlocks(client, nurse):
    for _ in range(5):
        sign_in(client, "nurse", "wrong")
    assert reset(username="nurse") == 1
    assert sign_in(client, "nurse", PASSWORD).status_code == 302


def test_administrator_unlocks_a_user(client, nurse, admin_user):
    locked_out = type(client)()
    for _ in range(5):
        sign_in(locked_out, "nurse", "wrong")
    force_login_verified(client, admin_user)

    attempts = client.get("/admin/axes/accessattempt/")
    assert attempts.status_code == 200
    assert "nurse" in attempts.content.decode()
    client.post(
        "/admin/accounts/user/", {"action": "unlock_sign_in", "_selected_action": [nurse.pk]}
    )

    assert sign_in(locked_out, "nurse", PASSWORD).status_code == 302


def test_wrong_codes_count_towards_the_lock(client, settings, nurse):
    settings.MFA_REQUIRED = True
    device = authenticator(nurse)
    sign_in(client, "nurse", PASSWORD)
    for _ in range(4):
        device.refresh_from_db()
        device.throttling_failure_count = 0  # let each guess through django-otp's delay
        device.save()
        assert enter_code(client, wrong_code(device)).status_code == 200

    fifth = enter_code(client, wrong_code(device))
    assert fifth.status_code == 429
    assert MESSAGE in fifth.content.decode()

    # Locked: neither the password step nor a right code helps now.
    assert sign_in(client, "nurse", PASSWORD).status_code == 429
    response = enter_code(client, code_for(device))
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert not signed_in(client)


def test_a_lock_reached_meanwhile_stops_the_code_step(client, settings, nurse):
    settings.MFA_REQUIRED = True
    device = authenticator(nurse)
    sign_in(client, "nurse", PASSWORD)
    other = type(client)()
    for _ in range(5):
        sign_in(other, "nurse", "wrong")

    response = enter_code(client, code_for(device))

    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert not signed_in(client)


def test_token_endpoint_failures_lock_and_share_the_lock_with_the_pages(client, nurse):
    for _ in range(4):
        response = token(client, username="nurse", password="wrong")
        assert response.status_code == 400

    fifth = token(client, username="nurse", password="wrong")
    assert fifth.status_code == 429
    assert fifth.json() == {"non_field_errors": [MESSAGE]}

    right = token(client, username="nurse", password=PASSWORD)
    assert right.status_code == 429
    assert right.json() == {"non_field_errors": [MESSAGE]}
    assert sign_in(client, "nurse", PASSWORD).status_code == 429


def test_token_endpoint_wrong_codes_lock(client, settings, nurse):
    settings.MFA_REQUIRED = True
    device = authenticator(nurse)
    statuses = []
    for _ in range(5):
        device.refresh_from_db()
        device.throttling_failure_count = 0
        device.save()
        statuses.append(
            token(client, username="nurse", password=PASSWORD, otp=wrong_code(device)).status_code
        )
    assert statuses == [400] * 4 + [429]
    response = token(client, username="nurse", password=PASSWORD, otp=code_for(device))
    assert response.status_code == 429
    assert response.json() == {"non_field_errors": [MESSAGE]}


def test_web_lock_applies_to_the_token_endpoint(client, nurse):
    for _ in range(5):
        sign_in(client, "nurse", "wrong")
    response = token(client, username="nurse", password=PASSWORD)
    assert response.status_code == 429
    assert response.json() == {"non_field_errors": [MESSAGE]}


def test_token_success_clears_earlier_failures(client, nurse):
    for _ in range(4):
        token(client, username="nurse", password="wrong")
    assert token(client, username="nurse", password=PASSWORD).status_code == 200
    for _ in range(4):
        assert token(client, username="nurse", password="wrong").status_code == 400
    assert token(client, username="nurse", password=PASSWORD).status_code == 200


def test_stored_attempts_keep_no_secrets(client, nurse):
    device = authenticator(nurse)
    sign_in(client, "nurse", "a-secret-guess")
    sign_in(client, "nurse", PASSWORD)
    guess = wrong_code(device)
    enter_code(client, guess)

    attempt = AccessAttempt.objects.get(username="nurse")
    assert attempt.failures_since_start == 2
    assert "a-secret-guess" not in attempt.post_data
    assert "otp_token=********************" in attempt.post_data
    assert guess not in attempt.post_data


# --- Wider limits: one address across usernames, one username across addresses ------------


def test_twenty_failures_from_one_address_across_usernames_lock_the_address(client, nurse):
    # Password spraying: one guess per username, never five for any one of them.
    for i in range(19):
        assert sign_in(client, f"user{i}", "Spring2026!", address="10.7.0.1").status_code == 200
    twentieth = sign_in(client, "user19", "Spring2026!", address="10.7.0.1")
    assert twentieth.status_code == 429
    assert MESSAGE in twentieth.content.decode()

    # Even a right password from that address is refused now, on the page and the API...
    assert sign_in(client, "nurse", PASSWORD, address="10.7.0.1").status_code == 429
    assert token(client, address="10.7.0.1", username="nurse", password=PASSWORD).status_code == 429
    # ...but not from another address.
    assert sign_in(client, "nurse", PASSWORD, address="10.7.0.2").status_code == 302


def test_ten_failures_for_one_username_across_addresses_lock_the_username(
    client, nurse, oncologist
):
    for i in range(9):
        assert sign_in(client, "nurse", "wrong", address=f"10.8.0.{i}").status_code == 200
    tenth = sign_in(client, "nurse", "wrong", address="10.8.0.9")
    assert tenth.status_code == 429

    # From any address, even with the right password; other usernames are unaffected.
    assert sign_in(client, "nurse", PASSWORD, address="10.8.1.1").status_code == 429
    assert sign_in(client, "onc", PASSWORD, address="10.8.1.1").status_code == 302


def test_wider_locks_last_the_cool_off(client, nurse):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for i in range(10):
            sign_in(client, "nurse", "wrong", address=f"10.8.0.{i}")
        assert sign_in(client, "nurse", PASSWORD, address="10.8.1.1").status_code == 429
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert sign_in(client, "nurse", PASSWORD, address="10.8.1.1").status_code == 429
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert sign_in(client, "nurse", PASSWORD, address="10.8.1.1").status_code == 302


def test_administrator_unlocks_a_username_locked_across_addresses(client, nurse, admin_user):
    for i in range(10):
        sign_in(client, "nurse", "wrong", address=f"10.8.0.{i}")
    admin = type(client)()
    force_login_verified(admin, admin_user)
    admin.post(
        "/admin/accounts/user/", {"action": "unlock_sign_in", "_selected_action": [nurse.pk]}
    )
    assert sign_in(client, "nurse", PASSWORD, address="10.8.1.1").status_code == 302


def test_limits():
    from django.conf import settings

    assert settings.SIGN_IN_FAILURES_PER_ADDRESS == 20
    assert settings.SIGN_IN_FAILURES_PER_USERNAME == 10
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME

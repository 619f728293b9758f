"""API tokens: issued at sign-in with an expiry, stored hashed, refused once expired or
revoked (sign-out, by the user, by an administrator), listed to their owner; and the API's
rate limits."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from accounts.models import ApiToken
from config.throttling import SignInRateThrottle, UserRateThrottle
from tests.conftest import PASSWORD
from tests.tokens import api_token

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"
WORKLIST = "/api/v1/worklist/"


def sign_in(client, username="nurse", password=PASSWORD, address="127.0.0.1"):
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def with_token(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


# --- Issue ------------------------------------------------------------------------------


def test_sign_in_gives_a_new_token_with_its_expiry_each_time(client, nurse):
    with time_machine.travel(timezone.now(), tick=False):
        first = sign_in(client)
        now = timezone.now()
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"token", "expiry"}
    assert parse_datetime(body["expiry"]) == now + timedelta(hours=12)

    second = sign_in(client).json()
    assert second["token"] != body["token"]
    for token in (body["token"], second["token"]):
        assert with_token(token).get(WORKLIST).status_code == 200
    assert ApiToken.objects.filter(user=nurse).count() == 2


def test_lifetime_comes_from_api_token_hours(client, nurse, settings):
    settings.API_TOKEN_HOURS = 2
    with time_machine.travel(timezone.now(), tick=False):
        expiry = parse_datetime(sign_in(client).json()["expiry"])
        assert expiry == timezone.now() + timedelta(hours=2)


def test_the_token_is_not_stored_in_clear(client, nurse):
    token = sign_in(client).json()["token"]

    with connection.cursor() as cursor:
        for table in ("accounts_apitoken", "accounts_apitokenevent"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            rows = cursor.fetchall()
            assert rows, table
            assert not any(token in str(value) for row in rows for value in row), table
    stored = ApiToken.objects.get(user=nurse)
    assert stored.digest != token and len(stored.digest) == 128  # SHA-512


def test_refused_sign_in_says_nothing_about_which_part(client, nurse):
    response = sign_in(client, password="nope")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to sign in with the details given."]}
    assert not ApiToken.objects.exists()


def test_token_endpoint_requires_both_fields(client):
    response = client.post(TOKEN_URL, {}, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_a_username_longer_than_any_account_is_a_field_error_not_a_500(client, nurse):
    from axes.models import AccessAttempt

    from accounts.models import User

    assert User._meta.get_field("username").max_length == 150
    response = sign_in(client, username="n" * 300, password="nope")
    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert not AccessAttempt.objects.exists()
    # The longest username an account can have is still checked, and counted as a failure.
    response = sign_in(client, username="n" * 150, password="nope")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to sign in with the details given."]}
    assert AccessAttempt.objects.filter(username="n" * 150).count() == 1


# --- Expiry -----------------------------------------------------------------------------


def test_token_works_until_its_expiry_and_is_a_401_after(client, nurse):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api = with_token(sign_in(client).json()["token"])
    with time_machine.travel(start + timedelta(hours=12) - timedelta(seconds=1), tick=False):
        assert api.get(WORKLIST).status_code == 200
    with time_machine.travel(start + timedelta(hours=12, seconds=1), tick=False):
        response = api.get(WORKLIST)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
        # Gone from the owner's list too.
        fresh = with_token(sign_in(client).json()["token"])
        listed = fresh.get("/api/v1/auth/tokens/").json()["results"]
        assert len(listed) == 1 and listed[0]["current"]


def test_last_use_is_noted_roughly(client, nurse):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api = with_token(sign_in(client).json()["token"])
        assert ApiToken.objects.get().last_used_at is None
        api.get(WORKLIST)
        assert ApiToken.objects.get().last_used_at == start
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        api.get(WORKLIST)
        assert ApiToken.objects.get().last_used_at == start  # not on every request
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        api.get(WORKLIST)
        assert ApiToken.objects.get().last_used_at == start + timedelta(minutes=6)


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token " + "0" * 64, "Token \xff\xfe", "Token zz-not-hex"],
)
def test_malformed_or_unknown_tokens_are_a_401(header):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    assert api.get(WORKLIST).status_code == 401


def test_a_deactivated_users_token_is_a_401(nurse):
    api = with_token(api_token(nurse))
    nurse.is_active = False
    nurse.save()
    assert api.get(WORKLIST).status_code == 401


# --- Revocation -------------------------------------------------------------------------


def test_logout_revokes_the_token_used_and_no_other(client, nurse):
    used = with_token(sign_in(client).json()["token"])
    other = with_token(sign_in(client).json()["token"])

    response = used.post("/api/v1/auth/logout/")

    assert response.status_code == 204
    assert used.get(WORKLIST).status_code == 401
    assert used.post("/api/v1/auth/logout/").status_code == 401
    assert other.get(WORKLIST).status_code == 200


def test_logout_needs_a_token(client, nurse):
    client.force_login(nurse)
    assert client.post("/api/v1/auth/logout/").status_code == 401


def test_users_list_and_revoke_their_own_tokens_through_the_api(client, nurse, oncologist):
    mine = sign_in(client).json()["token"]
    api = with_token(mine)
    older = with_token(api_token(nurse))
    older_id = ApiToken.objects.filter(user=nurse).latest("pk").pk
    api_token(oncologist)
    other_users = ApiToken.objects.get(user=oncologist)

    listed = api.get("/api/v1/auth/tokens/").json()
    assert listed["count"] == 2
    assert {row["current"] for row in listed["results"]} == {True, False}
    assert set(listed["results"][0]) == {
        "id", "created", "expiry", "last_used_at", "source", "current",
    }  # fmt: skip
    assert mine not in str(listed)

    assert api.delete(f"/api/v1/auth/tokens/{other_users.pk}/").status_code == 404
    assert api.delete(f"/api/v1/auth/tokens/{older_id}/").status_code == 204
    assert older.get(WORKLIST).status_code == 401
    assert api.get(WORKLIST).status_code == 200
    assert ApiToken.objects.filter(user=oncologist).exists()


def test_users_see_and_revoke_their_tokens_on_the_security_page(client, nurse, oncologist):
    token = api_token(nurse)
    api_token(oncologist)
    client.force_login(nurse)

    page = client.get("/account/security/").content.decode()
    (stored,) = ApiToken.objects.filter(user=nurse)
    assert f"<code>{token[:8]}…</code>" in page
    assert token not in page
    assert f'action="/account/security/tokens/{stored.pk}/revoke/"' in page

    others = ApiToken.objects.get(user=oncologist)
    assert client.post(f"/account/security/tokens/{others.pk}/revoke/").status_code == 404
    response = client.post(f"/account/security/tokens/{stored.pk}/revoke/", follow=True)
    assert "The API token was revoked" in response.content.decode()
    assert with_token(token).get(WORKLIST).status_code == 401
    assert ApiToken.objects.filter(user=oncologist).exists()


def test_admin_page_lists_tokens_without_them(client, admin_user, nurse):
    token = api_token(nurse)
    client.force_login(admin_user)
    page = client.get(f"/admin/accounts/user/{nurse.pk}/change/").content.decode()
    assert f"<code>{token[:8]}…</code>" in page and token not in page


# --- Rate limits ------------------------------------------------------------------------


def test_token_endpoint_takes_ten_attempts_a_minute_from_one_address(nurse):
    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        statuses = [sign_in(client, password="wrong", address="10.9.0.1").status_code
                    for _ in range(3)]  # fmt: skip
        # Locked out by then (5 failures), but the rate limit counts every POST.
        statuses += [sign_in(client, username=f"u{i}", address="10.9.0.1").status_code
                     for i in range(7)]  # fmt: skip
        assert 429 not in statuses
        throttled = sign_in(client, address="10.9.0.1")
        assert throttled.status_code == 429
        assert "Retry-After" in throttled
        # Another address is not held back; other methods are not counted.
        assert sign_in(client, address="10.9.0.2").status_code == 200
        assert client.get(TOKEN_URL, REMOTE_ADDR="10.9.0.1").status_code == 405
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert sign_in(client, address="10.9.0.1").status_code == 200
    assert SignInRateThrottle.THROTTLE_RATES["sign-in"] == "10/minute"


def test_signed_in_api_users_have_a_rate_limit(nurse, oncologist, monkeypatch):
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "3/minute")
    api = with_token(api_token(nurse))
    with time_machine.travel(timezone.now(), tick=False):
        assert [api.get(WORKLIST).status_code for _ in range(3)] == [200, 200, 200]
        response = api.get(WORKLIST)
        assert response.status_code == 429
        assert response.json()["detail"].startswith("Request was throttled")
        # Per user, not per address.
        assert with_token(api_token(oncologist)).get(WORKLIST).status_code == 200


def test_rate_limit_defaults():
    assert UserRateThrottle.THROTTLE_RATES == {
        "anon": "60/minute", "user": "600/minute", "sign-in": "10/minute",
        "import": "6000/minute",
    }  # fmt: skip

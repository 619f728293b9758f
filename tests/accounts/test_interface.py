"""The interface role: laboratory and EHR system accounts. A token issued by an
administrator (issue_token, or the admin) that lasts until revoked; no password, no web
sign-in, no two-step prompt; may post reports to /api/v1/imports/ and read nothing else
(every route: tests/security/test_permission_matrix.py)."""

import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api.views import SYSTEM_ACCOUNT_TOKEN
from accounts.forms import SYSTEM_ACCOUNT_SIGN_IN
from accounts.middleware import SYSTEM_ACCOUNT_REFUSED
from accounts.models import ApiToken, User
from accounts.roles import Action, Role, can
from accounts.services import user_create
from tests.conftest import PASSWORD
from tests.tokens import api_token
from tests.two_step import force_login_verified

pytestmark = pytest.mark.django_db
WORKLIST = "/api/v1/worklist/"
LOGOUT = "/api/v1/auth/logout/"


@pytest.fixture
def lab():
    return user_create(username="lab-guardant", role=Role.INTERFACE, password=None)


def issue_token(username: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_token", username, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def with_token(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def test_interface_may_import_reports_and_nothing_else():
    interface = User(role=Role.INTERFACE, is_active=True)
    assert [a for a in Action if can(interface, a)] == [Action.IMPORT_REPORTS]
    for role in (Role.NURSE, Role.ONCOLOGIST):
        assert can(User(role=role, is_active=True), Action.IMPORT_REPORTS)
    assert not can(User(role=Role.ADMIN, is_active=True), Action.IMPORT_REPORTS)


# --- Creating one ---------------------------------------------------------------------------


def test_createuser_makes_an_interface_account_without_a_password():
    out = io.StringIO()
    call_command("createuser", "lab-foundation", "--role", "interface", stdout=out)

    user = User.objects.get(username="lab-foundation")
    assert "Created interface 'lab-foundation'" in out.getvalue()
    assert "issue_token lab-foundation" in out.getvalue()
    assert not user.has_usable_password()
    assert not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["interface"]


def test_createuser_refuses_a_password_for_an_interface_account():
    with pytest.raises(CommandError, match="Leave out --password-stdin"):
        call_command("createuser", "lab-x", "--role", "interface", "--password-stdin")
    assert not User.objects.filter(username="lab-x").exists()


def test_a_person_still_needs_a_password():
    with pytest.raises(CommandError, match="--password-stdin"):
        call_command("createuser", "kim", "--role", "nurse")


# --- Its token ------------------------------------------------------------------------------


def test_issue_token_prints_the_token_alone_and_it_lasts_until_revoked(lab):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        out, err = issue_token("lab-guardant")
    token = out.strip()
    assert out == token + "\n" and re.fullmatch(r"[0-9a-f]{64}", token)
    assert "lasts until revoked" in err
    stored = ApiToken.objects.get(user=lab)
    assert stored.expiry is None and stored.source == ApiToken.Source.COMMAND

    with time_machine.travel(start + timedelta(days=400), tick=False):
        api = with_token(token)
        # Authenticated (not 401), and refused: it reads nothing.
        response = api.get(WORKLIST)
        assert response.status_code == 403
        assert response.json()["detail"] == "Your role does not allow this."
        assert api.post(LOGOUT).status_code == 204
        assert api.get(WORKLIST).status_code == 401


def test_issue_token_for_a_person_expires_after_api_token_hours(nurse):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = issue_token("nurse")[0].strip()
        assert ApiToken.objects.get(user=nurse).expiry == start + timedelta(hours=12)
        assert with_token(token).get(WORKLIST).status_code == 200
    with time_machine.travel(start + timedelta(hours=12, seconds=1), tick=False):
        assert with_token(token).get(WORKLIST).status_code == 401


def test_issue_token_says_what_to_do_for_an_unknown_or_deactivated_user(lab):
    with pytest.raises(CommandError, match="createuser nobody --role interface"):
        issue_token("nobody")
    lab.is_active = False
    lab.save()
    with pytest.raises(CommandError, match="deactivated"):
        issue_token("lab-guardant")
    assert not ApiToken.objects.exists()


def test_no_two_step_prompt_for_its_token(lab, settings):
    settings.MFA_REQUIRED = True
    api = with_token(api_token(lab))
    response = api.get(WORKLIST)
    assert response.status_code == 403
    assert "two-step" not in response.json()["detail"]
    assert api.post(LOGOUT).status_code == 204


def test_the_token_endpoint_does_not_issue_its_token(client, lab):
    # Its password is unusable: refused like any wrong password.
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "lab-guardant", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to sign in with the details given."]}
    # An account made before, with a password: refused, and told where tokens come from.
    lab.set_password(PASSWORD)
    lab.save()
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "lab-guardant", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [SYSTEM_ACCOUNT_TOKEN]}
    assert not ApiToken.objects.exists()


# --- No web sign-in -------------------------------------------------------------------------


def test_sign_in_page_refuses_it_with_a_clear_message(client, lab):
    lab.set_password(PASSWORD)  # even with a password it would know
    lab.save()
    for next_url in ("/", "/admin/"):
        response = client.post(
            f"/login/?next={next_url}", {"username": "lab-guardant", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert SYSTEM_ACCOUNT_SIGN_IN in response.content.decode()
        assert client.get("/")["Location"].startswith("/login/")
    assert client.get("/admin/login/")["Location"].startswith("/login/")


def test_a_session_of_an_interface_account_is_refused_and_ended(client, lab):
    client.force_login(lab)
    response = client.get("/")
    assert response.status_code == 403
    assert SYSTEM_ACCOUNT_REFUSED in response.content.decode()
    # Ended: the next request is anonymous.
    assert client.get("/")["Location"].startswith("/login/")

    client.force_login(lab)
    response = client.get(WORKLIST)
    assert response.status_code == 403
    assert response.json() == {"detail": SYSTEM_ACCOUNT_REFUSED}


# --- In the admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    force_login_verified(client, admin_user)
    return client


def test_admin_issues_an_interface_token_shown_once(admin_client, lab):
    response = admin_client.post(
        "/admin/accounts/user/", {"action": "issue_api_token", "_selected_action": [lab.pk]}
    )

    assert response.status_code == 200
    html = response.content.decode()
    token = re.search(r'<code class="issued-token">([0-9a-f]{64})</code>', html).group(1)
    assert "lasts until it is revoked" in html
    stored = ApiToken.objects.get(user=lab)
    assert stored.source == ApiToken.Source.ADMIN and stored.expiry is None
    assert with_token(token).post(LOGOUT).status_code == 204
    # Not shown again anywhere.
    assert token not in admin_client.get(f"/admin/accounts/user/{lab.pk}/change/").content.decode()


def test_admin_cannot_issue_a_token_for_a_person(admin_client, nurse, lab):
    for selected in ([nurse.pk], [nurse.pk, lab.pk]):
        response = admin_client.post(
            "/admin/accounts/user/",
            {"action": "issue_api_token", "_selected_action": selected},
            follow=True,
        )
        assert "Select exactly one active interface account" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_creates_an_interface_account_only_without_a_password(admin_client):
    base = {"username": "lab-ehr", "role": "interface", "first_name": "", "last_name": ""}
    refused = admin_client.post(
        "/admin/accounts/user/add/",
        {**base, "email": "", "usable_password": "true", "password1": PASSWORD,
         "password2": PASSWORD},
    )  # fmt: skip
    assert refused.status_code == 200
    assert "signs in with an API token only" in refused.content.decode()
    assert not User.objects.filter(username="lab-ehr").exists()

    created = admin_client.post(
        "/admin/accounts/user/add/", {**base, "email": "", "usable_password": "false"}
    )
    assert created.status_code == 302
    user = User.objects.get(username="lab-ehr")
    assert user.role == "interface" and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == ["interface"]


def test_changing_a_role_revokes_tokens_and_an_interface_loses_its_password(admin_client, nurse):
    api = with_token(api_token(nurse))
    form = {
        "username": "nurse", "first_name": "Kim", "last_name": "Park", "email": "",
        "role": "interface", "is_active": "on", "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }  # fmt: skip

    response = admin_client.post(f"/admin/accounts/user/{nurse.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    nurse.refresh_from_db()
    assert nurse.role == "interface" and not nurse.has_usable_password()
    assert list(nurse.groups.values_list("name", flat=True)) == ["interface"]
    assert api.get(WORKLIST).status_code == 401

"""Users, roles and API tokens are in the audit history like clinical records (SPEC 1): who
was created, changed, deactivated, given or removed from a group, had their password
changed or two-step sign-in reset, and every token issued and revoked; each with its actor
(a person, or the command that did it). Append-only, as the clinical history is."""

import io
import sys

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from accounts import mfa
from accounts.models import ApiToken, User
from tests.conftest import PASSWORD
from tests.tokens import api_token
from tests.two_step import authenticator, force_login_verified

pytestmark = pytest.mark.django_db

UserEvent = apps.get_model("accounts", "UserEvent")
UserGroupsEvent = apps.get_model("accounts", "UserGroupsEvent")
ApiTokenEvent = apps.get_model("accounts", "ApiTokenEvent")


def context(event) -> dict:
    return event.pgh_context.metadata if event.pgh_context else {}


@pytest.fixture
def admin_client(client, admin_user):
    force_login_verified(client, admin_user)
    return client


def test_createuser_is_recorded_with_the_command_as_actor():
    saved, sys.stdin = sys.stdin, io.StringIO("correct-horse-battery-staple\n")
    try:
        call_command(
            "createuser", "kim", "--role", "nurse", "--password-stdin", stdout=io.StringIO()
        )
    finally:
        sys.stdin = saved
    user = User.objects.get(username="kim")

    (created,) = UserEvent.objects.filter(pgh_obj=user, pgh_label="insert")
    assert created.role == "nurse" and created.username == "kim"
    assert context(created)["source"] == "createuser"
    (joined,) = UserGroupsEvent.objects.filter(user=user, pgh_label="group.add")
    assert joined.group.name == "nurse"
    assert context(joined)["source"] == "createuser"
    # The password hash never reaches the history.
    assert not hasattr(created, "password")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_userevent")
        assert not any("md5$" in str(v) or "pbkdf2" in str(v) for row in cursor for v in row)


def test_role_change_and_group_membership_are_recorded_with_the_admin(admin_client, admin_user,
                                                                       nurse):  # fmt: skip
    form = {
        "username": "nurse", "first_name": "Kim", "last_name": "Park", "email": "",
        "role": "oncologist", "is_active": "on", "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }  # fmt: skip
    assert admin_client.post(f"/admin/accounts/user/{nurse.pk}/change/", form).status_code == 302

    changed = UserEvent.objects.filter(pgh_obj=nurse, pgh_label="update").latest("pgh_id")
    assert changed.role == "oncologist"
    assert context(changed)["user"] == admin_user.pk
    moves = UserGroupsEvent.objects.filter(user=nurse).order_by("pgh_id")
    assert [(e.pgh_label, e.group.name) for e in moves][-2:] == [
        ("group.remove", "nurse"), ("group.add", "oncologist"),
    ]  # fmt: skip
    assert all(context(e)["user"] == admin_user.pk for e in moves[1:])


def test_deactivation_is_recorded_with_the_admin(admin_client, admin_user, nurse):
    admin_client.post(
        "/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [nurse.pk]}
    )
    event = UserEvent.objects.filter(pgh_obj=nurse, pgh_label="update").latest("pgh_id")
    assert event.is_active is False
    assert context(event)["user"] == admin_user.pk


def test_signing_in_writes_no_history(client, nurse):
    before = UserEvent.objects.count()
    client.post("/login/", {"username": "nurse", "password": PASSWORD})
    nurse.refresh_from_db()
    assert nurse.last_login is not None
    assert UserEvent.objects.count() == before


def test_password_change_is_recorded_without_the_hash(client, nurse):
    client.force_login(nurse)
    client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "an-entirely-new-phrase",
         "new_password2": "an-entirely-new-phrase"},
    )  # fmt: skip
    (event,) = UserEvent.objects.filter(pgh_obj=nurse, pgh_label="password.change")
    assert context(event)["user"] == nurse.pk
    assert not UserEvent.objects.filter(pgh_obj=nurse, pgh_label="update").exists()


def test_two_step_reset_is_recorded_with_the_admin(admin_client, admin_user, nurse):
    authenticator(nurse)
    admin_client.post(
        "/admin/accounts/user/", {"action": "reset_two_step", "_selected_action": [nurse.pk]}
    )
    (event,) = UserEvent.objects.filter(pgh_obj=nurse, pgh_label="two_step.reset")
    assert context(event)["user"] == admin_user.pk
    assert context(event)["reason"] == "two-step reset"


def test_token_issued_by_the_command_names_the_command_and_the_user(nurse):
    call_command("issue_token", "nurse", stdout=io.StringIO(), stderr=io.StringIO())
    (event,) = ApiTokenEvent.objects.filter(pgh_label="token.issue")
    assert event.user_id == nurse.pk
    assert context(event)["source"] == "issue_token"
    assert "user" not in context(event)
    assert event.expiry is not None


def test_token_issued_at_sign_in_names_the_user(client, nurse):
    client.post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": PASSWORD},
        content_type="application/json",
    )
    (event,) = ApiTokenEvent.objects.filter(pgh_label="token.issue")
    assert event.user_id == nurse.pk and event.source == "sign_in"
    assert context(event)["user"] == nurse.pk


def test_token_issued_in_the_admin_names_the_admin(admin_client, admin_user):
    lab = User.objects.create_user("lab", role="interface")
    admin_client.post(
        "/admin/accounts/user/", {"action": "issue_api_token", "_selected_action": [lab.pk]}
    )
    (event,) = ApiTokenEvent.objects.filter(pgh_label="token.issue")
    assert event.user_id == lab.pk and event.source == "admin"
    assert context(event)["user"] == admin_user.pk


@pytest.mark.parametrize("how", ["logout", "user", "admin", "password", "two_step"])
def test_every_revocation_is_recorded_with_its_actor_and_reason(
    how, client, admin_client, admin_user, nurse
):
    token = api_token(nurse)
    token_id = ApiToken.objects.get(user=nurse).pk
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    if how == "logout":
        api.post("/api/v1/auth/logout/")
        actor, reason = nurse, "sign-out"
    elif how == "user":
        other = type(client)()
        other.force_login(nurse)
        other.post(f"/account/security/tokens/{token_id}/revoke/")
        actor, reason = nurse, "revoked by the user"
    elif how == "admin":
        admin_client.post(
            "/admin/accounts/user/",
            {"action": "revoke_api_tokens", "_selected_action": [nurse.pk]},
        )
        actor, reason = admin_user, "revoked by an administrator"
    elif how == "password":
        admin_client.post(
            f"/admin/accounts/user/{nurse.pk}/password/",
            {"usable_password": "true", "password1": "an-entirely-new-phrase",
             "password2": "an-entirely-new-phrase"},
        )  # fmt: skip
        actor, reason = admin_user, "password change"
    else:
        authenticator(nurse)
        mfa.mfa_reset(user=nurse, actor=admin_user)
        actor, reason = admin_user, "two-step reset"

    assert api.get("/api/v1/worklist/").status_code == 401
    (event,) = ApiTokenEvent.objects.filter(pgh_label="token.revoke")
    assert event.pgh_obj_id == token_id and event.user_id == nurse.pk
    assert context(event)["user"] == actor.pk
    assert context(event)["reason"] == reason


def test_account_history_is_append_only(nurse):
    api_token(nurse)
    for table in ("accounts_userevent", "accounts_usergroupsevent", "accounts_apitokenevent"):
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def test_admins_read_account_changes_in_the_change_history(admin_client, nurse):
    api_token(nurse)
    page = admin_client.get("/admin/pghistory/events/").content.decode()
    for label in ("insert", "group.add", "token.issue"):
        assert f">{label}<" in page, label

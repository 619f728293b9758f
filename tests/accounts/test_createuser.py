import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from accounts.models import User


def run(*args, password="correct-horse-battery-staple"):
    out = io.StringIO()
    stdin = io.StringIO(password + "\n")
    import sys

    saved, sys.stdin = sys.stdin, stdin
    try:
        call_command("createuser", *args, stdout=out)
    finally:
        sys.stdin = saved
    return out.getvalue()


@pytest.mark.django_db
def test_creates_user_with_role_group_and_usable_password():
    output = run("drsmith", "--role", "oncologist", "--email", "s@example.org", "--password-stdin")
    assert "Created oncologist 'drsmith'" in output
    user = User.objects.get(username="drsmith")
    assert user.role == "oncologist"
    assert user.email == "s@example.org"
    assert list(user.groups.values_list("name", flat=True)) == ["oncologist"]
    assert not user.is_staff
    # django-axes checks every sign-in against its lockouts, so authenticate needs a request.
    request = RequestFactory().post("/login/")
    assert (
        authenticate(request, username="drsmith", password="correct-horse-battery-staple") == user
    )


@pytest.mark.django_db
def test_admin_role_gets_admin_site_access():
    run("it-lee", "--role", "admin", "--password-stdin")
    user = User.objects.get(username="it-lee")
    assert user.is_staff
    assert user.has_perm("accounts.change_user")
    assert not user.is_superuser


@pytest.mark.django_db
def test_unknown_role_is_refused_with_the_choices():
    with pytest.raises(CommandError) as exc:
        run("x", "--role", "surgeon", "--password-stdin")
    assert "Unknown role 'surgeon'" in str(exc.value)
    assert "oncologist, nurse, admin" in str(exc.value)
    assert not User.objects.filter(username="x").exists()


@pytest.mark.django_db
def test_taken_username_is_refused():
    run("kim", "--role", "nurse", "--password-stdin")
    with pytest.raises(CommandError, match="'KIM' is already taken"):
        run("KIM", "--role", "nurse", "--password-stdin")
    assert User.objects.filter(username__iexact="kim").count() == 1


@pytest.mark.django_db
def test_weak_password_is_refused_with_validator_messages():
    with pytest.raises(CommandError) as exc:
        run("weak", "--role", "nurse", "--password-stdin", password="123")
    message = str(exc.value)
    assert "password: This password is too short" in message
    assert "entirely numeric" in message
    assert not User.objects.filter(username="weak").exists()


@pytest.mark.django_db
def test_missing_password_stdin_flag_says_what_to_type():
    with pytest.raises(CommandError, match="--password-stdin"):
        call_command("createuser", "nopw", "--role", "nurse")

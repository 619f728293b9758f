"""Writes to users and roles."""

from django.apps import apps as global_apps
from django.contrib.auth import password_validation
from django.contrib.auth.management import create_permissions
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from accounts.roles import GROUP_PERMISSIONS, Role
from config.errors import Errors


def sync_role_groups(apps=global_apps) -> None:
    """Make one group per role holding exactly the permissions in GROUP_PERMISSIONS."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # Permissions are normally created after migrate; groups need them now.
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, apps=apps)
    for role in Role:
        _grant_role_permissions(Group.objects.get_or_create(name=role.value)[0], Permission)


def _grant_role_permissions(group, Permission) -> None:
    wanted = []
    for dotted in GROUP_PERMISSIONS[group.name]:
        app_label, codename = dotted.split(".")
        perm = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if perm is not None:
            wanted.append(perm)
    group.permissions.set(wanted)


def user_set_role(*, user: User, role: str) -> User:
    from django.contrib.auth.models import Group, Permission

    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}."}
        )
    with transaction.atomic():
        user.role = role
        # Administrators work in the Django admin; clinicians never do.
        user.is_staff = role == Role.ADMIN
        user.save(update_fields=["role", "is_staff"])
        group, created = Group.objects.get_or_create(name=role)
        if created:  # a database wiped after migrate (e.g. by a test flush)
            _grant_role_permissions(group, Permission)
        user.groups.set([group])
    return user


def user_create(
    *, username: str, role: str, password: str, email: str = "", first_name: str = "",
    last_name: str = "",
) -> User:  # fmt: skip
    errors = Errors()
    if role not in Role.values:
        errors.add("role", f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}.")
    if not username:
        errors.add("username", "A username is required.")
    elif User.objects.filter(username__iexact=username).exists():
        errors.add("username", f"The username '{username}' is already taken.")
    candidate = User(username=username, email=email, first_name=first_name, last_name=last_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as exc:
        errors.extend("password", exc.messages)
    errors.raise_if_any()
    with transaction.atomic():
        user = User.objects.create_user(
            username=username, email=email, password=password, role=role,
            first_name=first_name, last_name=last_name,
        )  # fmt: skip
        user_set_role(user=user, role=role)
    return user


def user_tokens_revoke(*, user: User) -> int:
    """Delete the user's API tokens; anything still using one gets 401. Returns how many."""
    from rest_framework.authtoken.models import Token

    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted

"""Writes to users and roles. Each is in the audit history (accounts.models: User, its
group membership and tokens are tracked), with the actor in the history context: the
person who did it (`actor`), or the command, which names itself (`source`)."""

import pghistory
from django.apps import apps as global_apps
from django.contrib.auth import password_validation
from django.contrib.auth.management import create_permissions
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import tokens
from accounts.models import User
from accounts.roles import GROUP_PERMISSIONS, Role, is_system_account
from config.errors import Errors

SYSTEM_ACCOUNT_PASSWORD = (
    "An interface account signs in with an API token only and has no password: leave the "
    "password out, then issue its token (python manage.py issue_token USERNAME)."
)


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


def user_set_role(*, user: User, role: str, actor: User | None = None) -> User:
    """Give `user` the role: its group, admin-site access for administrators only, and no
    usable password for a system account."""
    from django.contrib.auth.models import Group, Permission

    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}."}
        )
    with tokens.audit_context(actor), transaction.atomic():
        user.role = role
        # Administrators work in the Django admin; clinicians never do.
        user.is_staff = role == Role.ADMIN
        fields = ["role", "is_staff"]
        if is_system_account(user) and user.has_usable_password():
            user.set_unusable_password()
            fields.append("password")
        user.save(update_fields=fields)
        group, created = Group.objects.get_or_create(name=role)
        if created:  # a database wiped after migrate (e.g. by a test flush)
            _grant_role_permissions(group, Permission)
        user.groups.set([group])
    return user


def user_role_changed(*, user: User, actor: User | None) -> User:
    """After an administrator changed `user.role`: bring the group and staff flag in step,
    and revoke the user's API tokens, which were issued for the old role (a system
    account's last until revoked; a person's must not)."""
    with transaction.atomic():
        user_set_role(user=user, role=user.role, actor=actor)
        tokens.user_tokens_revoke(user=user, actor=actor, reason=tokens.REVOKED_BY_ROLE_CHANGE)
    return user


def user_create(
    *, username: str, role: str, password: str | None, email: str = "", first_name: str = "",
    last_name: str = "", actor: User | None = None,
) -> User:  # fmt: skip
    """A new user with a role. A person needs a password that passes
    AUTH_PASSWORD_VALIDATORS; a system account (interface) has none and gets an unusable
    one."""
    errors = Errors()
    if role not in Role.values:
        errors.add("role", f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}.")
    if not username:
        errors.add("username", "A username is required.")
    elif User.objects.filter(username__iexact=username).exists():
        errors.add("username", f"The username '{username}' is already taken.")
    candidate = User(
        username=username, email=email, first_name=first_name, last_name=last_name, role=role
    )
    if is_system_account(candidate):
        if password:
            errors.add("password", SYSTEM_ACCOUNT_PASSWORD)
        password = None  # create_user makes it unusable
    else:
        try:
            password_validation.validate_password(password or "", user=candidate)
        except ValidationError as exc:
            errors.extend("password", exc.messages)
    errors.raise_if_any()
    with tokens.audit_context(actor), transaction.atomic():
        user = User.objects.create_user(
            username=username, email=email, password=password, role=role,
            first_name=first_name, last_name=last_name,
        )  # fmt: skip
        user_set_role(user=user, role=role, actor=actor)
    return user


def password_change(*, user: User, new_password: str | None, actor: User | None) -> User:
    """Set a new password (already validated by the form; None: no usable password), record
    the change in the history (password.change; never the hash) and revoke the user's API
    tokens. Every session of the user signed in with the old password ends at its next
    request (Django checks the password's hash in the session); the view that keeps the
    current one says so."""
    reason = tokens.REVOKED_BY_PASSWORD_CHANGE
    with tokens.audit_context(actor, reason=reason), transaction.atomic():
        user.set_password(new_password)  # None: unusable
        user.save(update_fields=["password"])
        pghistory.create_event(user, label="password.change")
        tokens.user_tokens_revoke(user=user, actor=actor, reason=reason)
    return user

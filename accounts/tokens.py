"""API tokens: issued, checked, listed and revoked (django-rest-knox, accounts.ApiToken).

A token is shown once, when it is issued; the database keeps a SHA-512 hash of it. A person's
token expires API_TOKEN_HOURS after it is issued (one per sign-in at
`POST /api/v1/auth/token/`); a system account's (accounts.roles.SYSTEM_ROLES) is issued by an
administrator and lasts until it is revoked. Revoking deletes the token: any request with it
is then a 401, as is a request with an expired one.

Every issue and revocation is in the audit history (ApiToken's token.issue and token.revoke
events), with the actor and the reason in its context.
"""

from datetime import timedelta

import pghistory
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from accounts.models import ApiToken, User
from accounts.roles import is_system_account

# Why tokens were revoked, in the audit context.
REVOKED_BY_SIGN_OUT = "sign-out"
REVOKED_BY_USER = "revoked by the user"
REVOKED_BY_ADMIN = "revoked by an administrator"
REVOKED_BY_PASSWORD_CHANGE = "password change"
REVOKED_BY_TWO_STEP_RESET = "two-step reset"
REVOKED_BY_ROLE_CHANGE = "role change"

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_lifetime(user: User) -> timedelta | None:
    """How long a new token of `user` lasts; None: until revoked (system accounts)."""
    if is_system_account(user):
        return None
    return timedelta(hours=settings.API_TOKEN_HOURS)


def audit_context(actor: User | None, **metadata) -> pghistory.context:
    """The history context of an account change: who did it (when a person did) and why."""
    if actor is not None:
        metadata["user"] = actor.pk
    return pghistory.context(**metadata)


def token_issue(*, user: User, actor: User | None, source: str) -> tuple[ApiToken, str]:
    """A new token for `user`, and the token itself, which is never stored and cannot be
    shown again. `actor` is who asked (the user signing in, an administrator); None for a
    command, which names itself in the history context."""
    with audit_context(actor, reason="token issued"), transaction.atomic():
        return ApiToken.objects.create(user=user, expiry=token_lifetime(user), source=source)


def live_tokens(user: User) -> QuerySet[ApiToken]:
    """The user's tokens that still work (not expired), newest first."""
    return ApiToken.objects.filter(
        Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()), user=user
    ).order_by("-created")


def token_revoke(*, token: ApiToken, actor: User | None, reason: str) -> None:
    with audit_context(actor, reason=reason), transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).delete()


def user_tokens_revoke(*, user: User, actor: User | None, reason: str) -> int:
    """Revoke every token of `user` (expired ones go too); anything still using one gets
    401. Returns how many went."""
    with audit_context(actor, reason=reason), transaction.atomic():
        deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


class ApiTokenAuthentication(TokenAuthentication):
    """knox's `Authorization: Token <token>`, refusing expired tokens without deleting them
    (a read writes no audit rows), and noting roughly when each token was last used."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            # knox would let this through as a 500; it is just a token that does not exist.
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        # True: skip this token (knox then answers 401 when no other token matches).
        return auth_token.expiry is not None and auth_token.expiry <= timezone.now()

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes ApiTokenAuthentication."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, from `POST /api/v1/auth/token/`.",
        }

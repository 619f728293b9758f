import pghistory
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import get_random_string
from django_otp.plugins.otp_static.models import StaticDevice
from knox.models import AbstractAuthToken

from accounts.roles import Role


# Users and roles are audited like clinical records (SPEC section 1): every insert, update
# and delete in an append-only history table written by Postgres triggers. The password hash
# and last_login are left out: a hash has no place in the history, and last_login changes at
# every sign-in. A password change and a two-step reset are recorded as events of their own
# (accounts.services, accounts.mfa).
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    pghistory.ManualEvent("password.change"),
    pghistory.ManualEvent("two_step.reset"),
    exclude=["password", "last_login"],
    append_only=True,
)
class User(AbstractUser):
    """A clinic user. The role decides everything the user may see and do
    (see accounts/roles.py); the matching Django group carries the admin-site
    permissions and is kept in step by accounts.services.user_set_role."""

    role = models.CharField(max_length=16, choices=Role.choices)

    REQUIRED_FIELDS = ["email", "role"]

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role in Role.values else ""


@pghistory.track(
    pghistory.InsertEvent("group.add"),
    pghistory.DeleteEvent("group.remove"),
    obj_field=None,
    append_only=True,
)
class UserGroups(User.groups.through):
    """Group membership (the role's group), so adding and removing it is audited too."""

    class Meta:
        proxy = True


@pghistory.track(
    pghistory.InsertEvent("token.issue"),
    pghistory.DeleteEvent("token.revoke"),
    exclude=["digest", "token_key", "last_used_at"],
    append_only=True,
)
class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox, `Authorization: Token <token>`). Only a SHA-512 hash
    of the token is stored, with its first characters to find it by (`token_key`); the token
    itself is shown once, when it is issued. Revoking a token deletes its row.

    Issue and revocation are audited (token.issue, token.revoke) with the actor in the
    history context; the hash is kept out of the history."""

    class Source(models.TextChoices):
        SIGN_IN = "sign_in", "Signed in through the API"
        COMMAND = "command", "Issued with manage.py issue_token"
        ADMIN = "admin", "Issued by an administrator"

    # A number to revoke a token by (in a URL, a form); knox's own key is the hash.
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=128, unique=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Updated at most every few minutes (accounts.tokens): enough to tell a token in use
    # from one forgotten.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.token_key[:8]}… ({self.user})"


# --- Backup codes ------------------------------------------------------------------------
# django-otp keeps backup codes (StaticToken) in plain text. Here each code is stored as a
# salted PBKDF2 hash instead, and checked by hash; the codes are shown once, when made.

BACKUP_CODE_HASH_ITERATIONS = 100_000


class _BackupCodeHasher(PBKDF2PasswordHasher):
    # A code is 40 random bits, used once, behind a password: fewer rounds than a password
    # gets, so that checking a typed code against all ten stays well under a second.
    iterations = BACKUP_CODE_HASH_ITERATIONS


def backup_code_hash(code: str) -> str:
    hasher = _BackupCodeHasher()
    return hasher.encode(code, get_random_string(16))


def backup_code_matches(code: str, encoded: str) -> bool:
    return _BackupCodeHasher().verify(code, encoded)


class BackupCodeDevice(StaticDevice):
    """django-otp's backup-code device, checking a code against the hashes in BackupCode
    (its own plain-text tokens stay empty). Same table, so django-otp's throttling, the
    device's persistent id in the session and the admin all work as before."""

    class Meta:
        proxy = True

    def verify_token(self, token):
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        match = next(
            (
                code
                for code in self.backup_codes.all()
                if backup_code_matches(token, code.code_hash)
            ),
            None,
        )
        # Deleted by id: of two sign-ins racing with the same code, one wins.
        if match is not None and BackupCode.objects.filter(pk=match.pk).delete()[0]:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment()
        return False


class BackupCode(models.Model):
    """One single-use backup code of a user's backup-code device, as a salted hash."""

    device = models.ForeignKey(StaticDevice, on_delete=models.CASCADE, related_name="backup_codes")
    code_hash = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"backup code of {self.device.user}"

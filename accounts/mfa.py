"""Two-step sign-in: an authenticator app (TOTP) plus single-use backup codes, on django-otp.

Who must use it is `settings.MFA_REQUIRED`. Where it is enforced: the sign-in pages
(accounts/views.py) ask every user with an authenticator for a code; the middleware
(accounts/middleware.py) holds users without one at the set-up page when it is required;
the token endpoint (accounts/api/views.py) asks for the current code when it is required.

Backup codes are stored as salted hashes (accounts.models.BackupCode) and shown once.
"""

import re
from base64 import b32encode

import django_otp
import pghistory
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django.utils.safestring import SafeString, mark_safe
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import tokens
from accounts.models import BackupCode, BackupCodeDevice, User, backup_code_hash

AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10
# django-otp's default; backup codes are 8 letters and digits, so the two never collide.
TOTP_DIGITS = 6


def mfa_required() -> bool:
    return settings.MFA_REQUIRED


def authenticator_for(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator, if they have set one up."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("id").first()


def has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def backup_codes_left(user: User) -> int:
    return BackupCode.objects.filter(device__user=user, device__confirmed=True).count()


def _clean(code: str) -> str:
    # People type codes with spaces or dashes ("123 456", "abcd-efgh"); backup codes are
    # stored lower case.
    return re.sub(r"[\s-]", "", code or "").lower()


def verify_code(*, user: User, code: str) -> Device | None:
    """The device that accepts `code`: the authenticator's current code, or an unused
    backup code (which is used up). None when neither does. django-otp refuses a code
    already used and slows down repeated guesses on each device."""
    code = _clean(code)
    if not code:
        return None
    # Route by shape, so a backup code never counts as a wrong guess against the
    # authenticator (and slows its next use), nor the other way round.
    model = TOTPDevice if code.isdigit() and len(code) == TOTP_DIGITS else BackupCodeDevice
    for device in model.objects.devices_for_user(user, confirmed=True):
        verified = django_otp.verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified
    return None


def verify_authenticator_code(*, user: User, code: str) -> TOTPDevice | None:
    """Like verify_code, but only the authenticator's current code (the API asks for it)."""
    code = _clean(code)
    if not code:
        return None
    for device in TOTPDevice.objects.devices_for_user(user, confirmed=True):
        verified = django_otp.verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified
    return None


def authenticator_start(*, user: User) -> TOTPDevice:
    """The authenticator being set up: made on the first call and kept, unconfirmed, until
    a code from it is entered, so reloading the page shows the same QR code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def authenticator_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm an authenticator being set up with a code from it, and issue a fresh set of
    backup codes (returned, to be shown once). None when the code does not match."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        if device.confirmed or not device.verify_token(_clean(code)):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # One authenticator per person: set-up attempts left behind go.
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        return backup_codes_replace(user=user)


def backup_codes_replace(*, user: User) -> list[str]:
    """Replace the user's backup codes with a fresh set; the old ones stop working.
    Returns the new codes, which are shown to the user once: only their hashes are kept."""
    codes: list[str] = []
    while len(codes) < BACKUP_CODE_COUNT:
        candidate = StaticToken.random_token()  # 8 letters and digits, lower case
        if candidate not in codes:
            codes.append(candidate)
    hashes = [backup_code_hash(code) for code in codes]  # before the transaction: slow on purpose
    with transaction.atomic():
        device, _ = BackupCodeDevice.objects.get_or_create(
            user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.backup_codes.all().delete()
        BackupCode.objects.bulk_create([BackupCode(device=device, code_hash=h) for h in hashes])
    return codes


def mfa_reset(*, user: User, actor: User | None = None) -> int:
    """Remove the user's authenticator and backup codes (a lost phone), and revoke their API
    tokens (one may have been taken with the lost phone's codes). With MFA_REQUIRED they set
    up a new authenticator at their next sign-in. Recorded in the history (two_step.reset)
    whenever there was something to remove. Returns how many devices went."""
    reason = tokens.REVOKED_BY_TWO_STEP_RESET
    with tokens.audit_context(actor, reason=reason), transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        removed_static, _ = StaticDevice.objects.filter(user=user).delete()
        revoked = tokens.user_tokens_revoke(user=user, actor=actor, reason=reason)
        if removed or removed_static or revoked:
            pghistory.create_event(user, label="two_step.reset")
    return removed + removed_static


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// address as an inline SVG QR code, drawn on the server:
    no image request, no script, no style attribute."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    svg = image.to_string(encoding="unicode")
    svg = svg.replace(
        "<svg ",
        '<svg class="qr-code" role="img" aria-label="QR code to scan with your authenticator app" ',
        1,
    )
    return mark_safe(svg)  # noqa: S308 - built here from the device key, no user text


def secret_for_typing(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for apps where the QR code cannot be scanned."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))

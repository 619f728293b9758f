"""Helpers for tests that run with two-step sign-in (settings.MFA_REQUIRED = True).

`force_login_verified(client, user)` is `client.force_login` for a session that has
passed the two-step code, so a test about something else can still sign in under MFA.
"""

import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa


def authenticator(user) -> TOTPDevice:
    """A confirmed authenticator for `user` (what the set-up page leaves behind)."""
    return TOTPDevice.objects.create(user=user, name=mfa.AUTHENTICATOR_NAME, confirmed=True)


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the user's app shows now, or `steps_ahead` 30-second steps later (django-otp
    accepts one step either side, and never the same step twice)."""
    device.refresh_from_db()
    value = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits,
        drift=device.drift + steps_ahead,
    )  # fmt: skip
    return f"{value:0{device.digits}d}"


def unused_code(device: TOTPDevice) -> str:
    """A valid code that has not been used yet: the current step's if it is still free,
    otherwise the next step's."""
    device.refresh_from_db()
    current_t = (int(time.time()) - device.t0) // device.step + device.drift
    return code_for(device, steps_ahead=0 if device.last_t < current_t else 1)


def wrong_code(device: TOTPDevice) -> str:
    good = {code_for(device, steps_ahead=k) for k in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in good)


def force_login_verified(client, user, device: TOTPDevice | None = None) -> TOTPDevice:
    """Sign `client` in as `user` with a session that has passed the two-step code."""
    device = device or mfa.authenticator_for(user) or authenticator(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device

"""Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failures for one username from
one address, that pair is refused for AXES_COOLOFF_TIME, whatever is typed.

Failures are wrong passwords (axes hears them from `authenticate`), and wrong two-step
codes at sign-in and on the token endpoint (reported here with `failure_record`). The
refusal never says which part was wrong, nor whether the username exists.
"""

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address, get_credentials
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-in attempts. Try again in {minutes} minutes "
        "or ask an administrator to unlock you."
    )


def is_locked_out(request: HttpRequest, *, username: str) -> bool:
    return AxesProxyHandler.is_locked(request, get_credentials(username))


def failure_record(request: HttpRequest, *, username: str) -> bool:
    """Count a failed sign-in step for `username` from this address, as a wrong password
    would be. True when this failure locked the pair out."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    return bool(getattr(request, "axes_locked_out", False))


def failures_clear(request: HttpRequest, *, username: str) -> None:
    """Forget the failures of `username` from this address after a complete sign-in that
    did not go through `login()` (the token endpoint)."""
    AxesProxyHandler.reset_attempts(ip_address=get_client_ip_address(request), username=username)


def user_unlock(*, username: str) -> int:
    """Lift every lockout of `username`, from any address. Returns the records removed."""
    return reset(username=username)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the refusal a locked-out pair gets, JSON for the API."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path_info.startswith("/api/"):
        return JsonResponse({"non_field_errors": [lockout_message()]}, status=status)
    return render(
        request, "registration/locked_out.html", {"message": lockout_message()}, status=status
    )

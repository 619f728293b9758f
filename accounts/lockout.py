"""Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failures for one username from
one address, that pair is refused for AXES_COOLOFF_TIME, whatever is typed. Two wider
limits stop guessing spread out to dodge that one, counted over the same window:
SIGN_IN_FAILURES_PER_ADDRESS failures from one address across usernames (password
spraying) lock the address, and SIGN_IN_FAILURES_PER_USERNAME failures for one username
across addresses lock the username.

Failures are wrong passwords (axes hears them from `authenticate`), and wrong two-step
codes at sign-in, on the token endpoint and on the password page (reported here with
`failure_record`). The refusal never says which part was wrong, nor whether the username
exists. The address is REMOTE_ADDR as config.middleware.TrustedProxyMiddleware left it.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address, get_client_username, get_credentials
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone


def client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the connection's address, or the client's when a trusted
    proxy forwarded the request. Never a header a client could write."""
    return request.META.get("REMOTE_ADDR") or None


def _recent_failures(**lookup) -> int:
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts = AccessAttempt.objects.filter(attempt_time__gt=since, **lookup)
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def wider_limit_reached(request: HttpRequest, credentials: dict | None) -> bool:
    """True when the request's address, or the username tried, has failed too often across
    usernames or addresses (axes' attempt records: one per username, address and browser,
    cleared by a successful sign-in of that pair and by an administrator's unlock)."""
    address = client_ip(request)
    if address and _recent_failures(ip_address=address) >= settings.SIGN_IN_FAILURES_PER_ADDRESS:
        return True
    username = get_client_username(request, credentials)
    return bool(username) and (
        _recent_failures(username__iexact=username) >= settings.SIGN_IN_FAILURES_PER_USERNAME
    )


class SignInLockoutHandler(AxesDatabaseHandler):
    """AXES_HANDLER: axes' own pair lock, plus the per-address and per-username limits."""

    def is_locked(self, request, credentials=None) -> bool:
        return super().is_locked(request, credentials) or wider_limit_reached(request, credentials)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if wider_limit_reached(request, credentials):
            # As axes does for the pair: AxesMiddleware answers with the lockout response.
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send(
                "axes",
                request=request,
                username=get_client_username(request, credentials),
                ip_address=client_ip(request),
            )


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
    """Lift every lockout of `username`, from any address (its failures no longer count
    towards the username's limit, nor towards the addresses'). Returns the records
    removed."""
    return reset(username=username)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the refusal a locked-out pair gets, JSON for the API."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path_info.startswith("/api/"):
        return JsonResponse({"non_field_errors": [lockout_message()]}, status=status)
    return render(
        request, "registration/locked_out.html", {"message": lockout_message()}, status=status
    )

"""Session rules that apply to every request of a signed-in user."""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse

from accounts import mfa
from accounts.roles import Action, can

SYSTEM_ACCOUNT_REFUSED = (
    "This is a system account (interface): it uses the API with its token only and has no "
    "access to the web pages."
)


class SystemAccountMiddleware:
    """A session for an account whose role may not sign in on the web (interface) answers
    403 on every page and API call, and is ended. The sign-in page refuses such accounts in
    the first place; this catches a session made any other way."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not can(user, Action.WEB_SIGN_IN):
            logout(request)
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": SYSTEM_ACCOUNT_REFUSED}, status=403)
            return HttpResponseForbidden(
                SYSTEM_ACCOUNT_REFUSED, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


# When the current sign-in happened (epoch seconds), kept in the session.
SIGNED_IN_AT_KEY = "signed_in_at"


class SessionLifetimeMiddleware:
    """Ends a session SESSION_ABSOLUTE_HOURS after sign-in however active it is (the idle
    limit is the session cookie age, pushed forward by every request)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            signed_in_at = request.session.get(SIGNED_IN_AT_KEY)
            if signed_in_at is None:
                request.session[SIGNED_IN_AT_KEY] = int(time.time())
            elif time.time() - signed_in_at >= settings.SESSION_ABSOLUTE_HOURS * 3600:
                logout(request)  # flushes the session server-side
                messages.info(request, "Your session has ended. Please sign in again.")
        response = self.get_response(request)
        # The sign-in request itself: record the time as soon as the session holds a user.
        # (Not request.user: DRF sets it for token requests, which have no session to keep.)
        if SESSION_KEY in request.session and SIGNED_IN_AT_KEY not in request.session:
            request.session[SIGNED_IN_AT_KEY] = int(time.time())
        return response


# What a signed-in user who still has to set up two-step sign-in may reach.
ENROLMENT_URL_NAMES = frozenset({"mfa-setup", "login", "login-code", "logout", "healthz", "readyz"})


class MfaEnrolmentMiddleware:
    """With MFA_REQUIRED, a session that has not passed a two-step code only reaches the
    set-up page (which sends a user who already has an authenticator back to sign in)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if mfa.mfa_required() and user.is_authenticated and not user.is_verified():
            try:
                url_name = resolve(request.path_info).url_name
            except Resolver404:
                url_name = None
            if url_name not in ENROLMENT_URL_NAMES:
                return self._to_setup(request)
        return self.get_response(request)

    @staticmethod
    def _to_setup(request):
        if request.path_info.startswith("/api/"):
            return JsonResponse(
                {"detail": "Set up two-step sign-in on the web before using the API."},
                status=403,
            )
        url = f"{reverse('mfa-setup')}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request") == "true":
            # htmx would swap the set-up page into a fragment; make it load the whole page.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return HttpResponseRedirect(url)

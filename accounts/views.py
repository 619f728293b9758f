"""Signing in (password, then a two-step code for anyone with an authenticator), setting up
two-step sign-in, changing one's password and revoking one's API tokens. The rules live in
accounts/mfa.py, accounts/lockout.py, accounts/tokens.py and accounts/services.py."""

import time
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_static.models import StaticDevice

from accounts import lockout, mfa, tokens
from accounts.forms import PasswordChangeWithCodeForm, SignInForm, TwoStepCodeForm
from accounts.models import User
from accounts.services import password_change

# Between the password and the code: who passed the password, when, and where to go next.
PENDING_KEY = "two_step_pending"
CODE_REFUSED = "That code was not accepted. Check your authenticator app and try again."


class SignInView(LoginView):
    """The password step. Anyone with an authenticator goes on to the code step before
    being signed in; anyone without is signed in (and, with MFA_REQUIRED, held at set-up
    by the middleware)."""

    redirect_authenticated_user = True
    authentication_form = SignInForm

    def form_valid(self, form):
        user = form.get_user()
        if not mfa.has_authenticator(user):
            return super().form_valid(form)
        self.request.session[PENDING_KEY] = {
            "user_id": user.pk,
            "backend": user.backend,
            "started_at": int(time.time()),
            "next": self.get_redirect_url(),
        }
        return redirect("login-code")


def _pending(request) -> tuple[User | None, dict]:
    pending = request.session.get(PENDING_KEY) or {}
    if not pending:
        return None, pending
    if time.time() - pending.get("started_at", 0) > settings.MFA_LOGIN_TIMEOUT:
        del request.session[PENDING_KEY]
        messages.info(request, "That sign-in took too long. Please start again.")
        return None, {}
    return User.objects.filter(pk=pending["user_id"], is_active=True).first(), pending


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_code(request):
    """The code step: the authenticator's current code, or one backup code."""
    user, pending = _pending(request)
    if user is None:
        return redirect("login")
    username = user.get_username()
    if lockout.is_locked_out(request, username=username):
        del request.session[PENDING_KEY]
        return lockout.lockout_response(request)
    form = TwoStepCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = mfa.verify_code(user=user, code=form.cleaned_data["otp_token"])
        if device is not None:
            del request.session[PENDING_KEY]
            auth_login(request, user, backend=pending["backend"])
            django_otp.login(request, device)
            if isinstance(device, StaticDevice):
                left = mfa.backup_codes_left(user)
                messages.warning(
                    request,
                    f"You signed in with a backup code; {left} left. "
                    "You can make a new set under Two-step sign-in.",
                )
            return redirect(pending.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))
        if lockout.failure_record(request, username=username):
            # AxesMiddleware answers with the lockout page; the next try starts again.
            del request.session[PENDING_KEY]
        form.add_error("otp_token", CODE_REFUSED)
    return render(request, "registration/login_code.html", {"form": form})


def _safe_next(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


@sensitive_post_parameters("otp_token")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mfa_setup(request):
    """Set up an authenticator: scan the QR code (or type the key), enter a code from it,
    then see the backup codes once."""
    user = request.user
    next_url = _safe_next(request)
    if mfa.has_authenticator(user):
        if user.is_verified():
            return redirect("account-security")
        # Signed in with a password only while an authenticator exists (set up from
        # another session): prove it with a code first.
        logout(request)
        messages.info(request, "Please sign in again with your two-step code.")
        return redirect(f"{reverse('login')}?{urlencode({'next': next_url or '/'})}")
    device = mfa.authenticator_start(user=user)
    form = TwoStepCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = mfa.authenticator_confirm(
            user=user, device=device, code=form.cleaned_data["otp_token"]
        )
        if codes is not None:
            device.refresh_from_db()
            django_otp.login(request, device)
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": codes, "just_set_up": True, "next": next_url or reverse("home")},
            )
        form.add_error(
            "otp_token",
            "That code did not match. Check that your phone's clock is right and enter the "
            "code the app shows now.",
        )
    context = {
        "form": form,
        "qr_code": mfa.qr_code_svg(device),
        "secret": mfa.secret_for_typing(device),
        "next": next_url,
        "required": mfa.mfa_required(),
    }
    return render(request, "accounts/mfa_setup.html", context)


@never_cache
@login_required
@require_GET
def account_security(request):
    user = request.user
    context = {
        "authenticator": mfa.authenticator_for(user),
        "backup_codes_left": mfa.backup_codes_left(user),
        "required": mfa.mfa_required(),
        "api_tokens": tokens.live_tokens(user),
    }
    return render(request, "accounts/security.html", context)


@never_cache
@login_required
@require_POST
def api_token_revoke(request, token_id: int):
    """Revoke one of the user's own API tokens; anyone else's is a 404."""
    token = get_object_or_404(tokens.live_tokens(request.user), pk=token_id)
    tokens.token_revoke(token=token, actor=request.user, reason=tokens.REVOKED_BY_USER)
    messages.success(request, "The API token was revoked: anything still using it is refused.")
    return redirect("account-security")


@sensitive_post_parameters("old_password", "new_password1", "new_password2", "otp_token")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request):
    """The user's own password: the current one (and the current two-step code, when they
    have an authenticator), then the new one twice. Ends the user's other sessions, keeps
    this one, and revokes their API tokens. Wrong current passwords and codes count towards
    the sign-in lockout."""
    user = request.user
    username = user.get_username()
    if lockout.is_locked_out(request, username=username):
        # Whoever holds this session cannot prove to be the user now: it ends.
        logout(request)
        return lockout.lockout_response(request)
    form = PasswordChangeWithCodeForm(user, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            password_change(user=user, new_password=form.cleaned_data["new_password1"], actor=user)
            # Keeps this session (a new key, the new password's hash); the others end at
            # their next request.
            update_session_auth_hash(request, user)
            messages.success(
                request,
                "Your password was changed. Your other sessions are signed out and your API "
                "tokens revoked.",
            )
            return redirect("account-security")
        if form.refused_credentials and lockout.failure_record(request, username=username):
            logout(request)
            return lockout.lockout_response(request)
    return render(request, "accounts/password_change.html", {"form": form})


@never_cache
@login_required
@require_POST
def backup_codes_new(request):
    """A fresh set of backup codes, shown once; the old ones stop working."""
    if not (mfa.has_authenticator(request.user) and request.user.is_verified()):
        raise PermissionDenied("Sign in with your two-step code to make new backup codes.")
    codes = mfa.backup_codes_replace(user=request.user)
    return render(request, "accounts/backup_codes.html", {"codes": codes, "next": reverse("home")})


@require_GET
def admin_login(request):
    """The admin site signs in through the same two steps as everywhere else."""
    if request.user.is_authenticated and not request.user.is_staff:
        raise PermissionDenied("Your role does not use the administration site.")
    next_url = _safe_next(request) or reverse("admin:index")
    if request.user.is_authenticated:
        return redirect(next_url)
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")

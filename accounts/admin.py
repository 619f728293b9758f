from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.db.models import Exists, OuterRef
from django.template.response import TemplateResponse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import lockout, mfa, tokens
from accounts.models import ApiToken, User
from accounts.roles import Role, is_system_account
from accounts.services import password_change, user_role_changed, user_set_role

SYSTEM_ACCOUNT_NO_PASSWORD = (
    "An interface account signs in with an API token only: choose Disabled here, then issue "
    "its token with the action 'Issue an API token' in the user list."
)


class UserCreateForm(AdminUserCreationForm):
    role = forms.ChoiceField(choices=Role.choices)

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name", "email", "role")

    def clean(self):
        cleaned = super().clean()
        if is_system_account(User(role=cleaned.get("role"))) and cleaned.get("set_usable_password"):
            self.add_error("usable_password", SYSTEM_ACCOUNT_NO_PASSWORD)
        return cleaned


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


class PasswordSetForm(AdminPasswordChangeForm):
    """The admin's "set password" form, through accounts.services.password_change: recorded
    in the history and revoking the user's API tokens, as the user's own change does. The
    administrator is the actor in the request's history context."""

    def save(self, commit=True):
        if not commit:
            return super().save(commit=False)
        password = (
            self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        )
        return password_change(user=self.user, new_password=password, actor=None)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    change_password_form = PasswordSetForm
    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "role",
        "is_active",
        "two_step",
        "last_login",
    )
    list_filter = ("role", "is_active")
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("username",)
    actions = [
        "deactivate_users",
        "revoke_api_tokens",
        "issue_api_token",
        "reset_two_step",
        "unlock_sign_in",
    ]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("role", "is_active")}),
        ("Sign-in security", {"fields": ("two_step_status", "api_tokens")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username", "first_name", "last_name", "email", "role",
                    "usable_password", "password1", "password2",
                ),
            },
        ),
    )  # fmt: skip
    readonly_fields = ("last_login", "date_joined", "two_step_status", "api_tokens")

    def get_queryset(self, request):
        confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_authenticator=Exists(confirmed))

    @admin.display(boolean=True, description="Two-step", ordering="has_authenticator")
    def two_step(self, obj):
        return obj.has_authenticator

    @admin.display(description="Two-step sign-in")
    def two_step_status(self, obj):
        device = mfa.authenticator_for(obj) if obj.pk else None
        if device is None:
            return "Not set up"
        left = mfa.backup_codes_left(obj)
        return f"Set up on {formats.date_format(device.created_at)}; {left} backup code(s) left"

    @admin.display(description="API tokens")
    def api_tokens(self, obj):
        live = list(tokens.live_tokens(obj)) if obj.pk else []
        if not live:
            return "None"

        def when(moment, otherwise):
            return formats.date_format(moment, "DATETIME_FORMAT") if moment else otherwise

        # Never a token: only its first characters (the rest is stored as a hash).
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><code>{}…</code> {}, issued {}, expires {}, last used {}</li>",
                (
                    (
                        token.token_key[:8],
                        token.get_source_display().lower(),
                        when(token.created, ""),
                        when(token.expiry, "when revoked"),
                        when(token.last_used_at, "never"),
                    )
                    for token in live
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            user_set_role(user=obj, role=obj.role, actor=request.user)
        elif "role" in form.changed_data:
            user_role_changed(user=obj, actor=request.user)

    # Users are deactivated, never deleted: their names stay on the audit trail.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Deactivate selected users")
    def deactivate_users(self, request, queryset):
        count = queryset.exclude(pk=request.user.pk).update(is_active=False)
        self.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)

    @admin.action(description="Revoke API tokens of selected users", permissions=["change"])
    def revoke_api_tokens(self, request, queryset):
        for user in queryset:
            revoked = tokens.user_tokens_revoke(
                user=user, actor=request.user, reason=tokens.REVOKED_BY_ADMIN
            )
            if revoked:
                self.log_change(request, user, f"Revoked {revoked} API token(s).")
        self.message_user(
            request, "Revoked the API tokens of the selected users.", messages.SUCCESS
        )

    @admin.action(description="Issue an API token (one interface account)", permissions=["change"])
    def issue_api_token(self, request, queryset):
        """A token for one system account, shown once on the page that follows. People get
        theirs by signing in: an administrator cannot act as a clinician through the API."""
        users = list(queryset[:2])
        if len(users) != 1 or not is_system_account(users[0]) or not users[0].is_active:
            self.message_user(
                request,
                "Select exactly one active interface account. People get their tokens by "
                "signing in (POST /api/v1/auth/token/).",
                messages.ERROR,
            )
            return None
        (user,) = users
        token, secret = tokens.token_issue(
            user=user, actor=request.user, source=ApiToken.Source.ADMIN
        )
        self.log_change(request, user, "Issued an API token.")
        context = {
            **self.admin_site.each_context(request),
            "title": "API token issued",
            "opts": self.opts,
            "subject": user,
            "token": secret,
            "expiry": token.expiry,
        }
        return TemplateResponse(request, "accounts/admin_token_issued.html", context)

    @admin.action(description="Reset two-step sign-in (lost phone) of selected users")
    def reset_two_step(self, request, queryset):
        for user in queryset:
            if mfa.mfa_reset(user=user, actor=request.user):
                self.log_change(request, user, "Reset two-step sign-in.")
        self.message_user(
            request,
            "Removed the authenticators and backup codes of the selected users and revoked "
            "their API tokens; they set up a new authenticator at their next sign-in.",
            messages.SUCCESS,
        )

    @admin.action(description="Unlock sign-in of selected users")
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            if lockout.user_unlock(username=user.get_username()):
                self.log_change(request, user, "Unlocked sign-in.")
        self.message_user(request, "Unlocked the selected users.", messages.SUCCESS)

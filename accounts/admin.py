from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db.models import Exists, OuterRef
from django.utils import formats
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token, TokenProxy

from accounts import lockout, mfa
from accounts.models import User
from accounts.roles import Role
from accounts.services import user_set_role, user_tokens_revoke

# DRF's token admin lists every key in clear. Administrators revoke tokens from the user
# instead, and see only when a token was made and the first characters of its key.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


class UserCreateForm(UserCreationForm):
    role = forms.ChoiceField(choices=Role.choices)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name", "email", "role")


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
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
    actions = ["deactivate_users", "revoke_api_tokens", "reset_two_step", "unlock_sign_in"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("role", "is_active")}),
        ("Sign-in security", {"fields": ("two_step_status", "api_token")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username", "first_name", "last_name", "email", "role",
                    "password1", "password2",
                ),
            },
        ),
    )  # fmt: skip
    readonly_fields = ("last_login", "date_joined", "two_step_status", "api_token")

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

    @admin.display(description="API token")
    def api_token(self, obj):
        token = Token.objects.filter(user=obj).first() if obj.pk else None
        if token is None:
            return "None"
        # Never the key itself: enough to tell two tokens apart, not to use one.
        return f"{token.key[:6]}… made {formats.date_format(token.created, 'DATETIME_FORMAT')}"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or "role" in form.changed_data:
            user_set_role(user=obj, role=obj.role)

    # Users are deactivated, never deleted: their names stay on the audit trail.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Deactivate selected users")
    def deactivate_users(self, request, queryset):
        count = queryset.exclude(pk=request.user.pk).update(is_active=False)
        self.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)

    @admin.action(description="Revoke API tokens of selected users")
    def revoke_api_tokens(self, request, queryset):
        for user in queryset:
            if user_tokens_revoke(user=user):
                self.log_change(request, user, "Revoked API token.")
        self.message_user(
            request, "Revoked the API tokens of the selected users.", messages.SUCCESS
        )

    @admin.action(description="Reset two-step sign-in (lost phone) of selected users")
    def reset_two_step(self, request, queryset):
        for user in queryset:
            if mfa.mfa_reset(user=user):
                self.log_change(request, user, "Reset two-step sign-in.")
        self.message_user(
            request,
            "Removed the authenticators and backup codes of the selected users; they set up a "
            "new authenticator at their next sign-in.",
            messages.SUCCESS,
        )

    @admin.action(description="Unlock sign-in of selected users")
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            if lockout.user_unlock(username=user.get_username()):
                self.log_change(request, user, "Unlocked sign-in.")
        self.message_user(request, "Unlocked the selected users.", messages.SUCCESS)

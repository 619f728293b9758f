from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm

from accounts import mfa
from accounts.roles import Action, can

SYSTEM_ACCOUNT_SIGN_IN = (
    "This is a system account (interface): it cannot sign in on the web. It uses the API "
    "with a token an administrator issues (python manage.py issue_token)."
)
CODE_REFUSED = "That code was not accepted. Enter the code your authenticator app shows now."


class TwoStepCodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The six-digit code your authenticator app shows now.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing accounts whose role may not sign in on the web."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "system_account": SYSTEM_ACCOUNT_SIGN_IN,
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not can(user, Action.WEB_SIGN_IN):
            raise forms.ValidationError(
                self.error_messages["system_account"], code="system_account"
            )


class PasswordChangeWithCodeForm(PasswordChangeForm):
    """The current password, the current two-step code when the user has an authenticator
    (the authenticator's code or a backup code), and the new password twice, checked by
    AUTH_PASSWORD_VALIDATORS."""

    otp_token = forms.CharField(
        label="Two-step code",
        max_length=32,
        required=False,
        help_text="The six-digit code your authenticator app shows now (or a backup code).",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )
    field_order = ["old_password", "otp_token", "new_password1", "new_password2"]

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.asks_for_code = mfa.has_authenticator(user)
        if not self.asks_for_code:
            del self.fields["otp_token"]
        else:
            self.fields["otp_token"].required = True

    def clean(self):
        cleaned = super().clean()
        # Only when everything else is right: a wrong guess at both is one failure, not
        # two, and a backup code is not spent on a form that fails anyway.
        self.code_refused = False
        if (
            self.asks_for_code
            and not self.errors
            and mfa.verify_code(user=self.user, code=cleaned.get("otp_token", "")) is None
        ):
            self.code_refused = True
            self.add_error("otp_token", CODE_REFUSED)
        return cleaned

    @property
    def refused_credentials(self) -> bool:
        """A wrong current password or code: counts towards the sign-in lockout."""
        return self.has_error("old_password", "password_incorrect") or getattr(
            self, "code_refused", False
        )

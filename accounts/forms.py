from django import forms


class TwoStepCodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The six-digit code your authenticator app shows now.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )

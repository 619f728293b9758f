from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/code/", views.sign_in_code, name="login-code"),
    path("account/security/", views.account_security, name="account-security"),
    path("account/security/setup/", views.mfa_setup, name="mfa-setup"),
    path("account/security/backup-codes/", views.backup_codes_new, name="mfa-backup-codes"),
    path(
        "account/security/tokens/<int:token_id>/revoke/",
        views.api_token_revoke,
        name="api-token-revoke",
    ),
    path("account/password/", views.password_change_view, name="password-change"),
]

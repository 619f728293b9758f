from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and roles"

    def ready(self):
        from config import dbroles

        # After every migrate the application's database role is granted anew.
        post_migrate.connect(dbroles.grant_after_migrate, dispatch_uid="grant_app_role")

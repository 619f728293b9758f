"""`manage.py grant_app_role`: as the owner, create the application's database role if needed
and grant it what the application needs, with no UPDATE, DELETE or TRUNCATE on the audit
tables (config/dbroles.py). `migrate` does this by itself; this renews it on its own."""

from django.core.management.base import BaseCommand

from config import dbroles


class Command(BaseCommand):
    help = "Create or renew the application's restricted database role (run as the owner)."

    def handle(self, *args, **options):
        with dbroles.as_owner():
            role = dbroles.grant_app_role()
        tables = len(dbroles.audit_tables())
        self.stdout.write(f"{role}: read and append only on {tables} audit tables")

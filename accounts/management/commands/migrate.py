"""`manage.py migrate`, as the database owner (config/dbroles.py): the application's own role
may not create or alter tables. Afterwards the application role's grants are renewed
(post_migrate), so a new audit table is append-only for it from the start."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from config import dbroles


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        with dbroles.as_owner():
            return super().handle(*args, **options)

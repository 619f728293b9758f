"""`manage.py migrate`, as the database owner (config/dbroles.py): the application's own role
may not create or alter tables. Afterwards the application role's grants are renewed
(post_migrate), so a new audit table is append-only for it from the start."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from config import dbroles


class Command(DjangoMigrate):
    def execute(self, *args, **options):
        # The whole command as the owner, its system checks included: a check that asks the
        # server its version connects before handle() runs, and with two URLs the
        # application's login role may not exist yet (this migrate creates it).
        with dbroles.as_owner():
            return super().execute(*args, **options)

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create, user_set_role

DEMO_PASSWORD = "esr1-demo-2026"
DEMO_USERS = [
    ("dr.osei", Role.ONCOLOGIST, "Ada", "Osei"),
    ("nurse.park", Role.NURSE, "Kim", "Park"),
    ("admin.lee", Role.ADMIN, "Lee", "Morgan"),
]


class Command(BaseCommand):
    help = "Load the demo cohort and one user per role (idempotent; demo/local use only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="load demo users even though DEBUG is false (never on a real deployment)",
        )

    def handle(self, *args, allow_without_debug=False, **options):
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "seed_demo creates users with a published password and only runs with DEBUG=true "
                "(make run sets it). Pass --allow-without-debug if you really mean it."
            )
        with transaction.atomic():
            for username, role, first, last in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user_create(
                        username=username, role=role, password=DEMO_PASSWORD,
                        first_name=first, last_name=last, email=f"{username}@example.org",
                    )  # fmt: skip
                elif user.role != role:
                    user_set_role(user=user, role=role)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.label:<14} {username}")

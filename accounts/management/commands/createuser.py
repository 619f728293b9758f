import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import user_create


class Command(BaseCommand):
    help = "Create a user with a role. The password is read from standard input."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(Role.values)}")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input (required)",
        )

    def handle(self, *args, username, role, email, first_name, last_name, password_stdin, **kw):
        if not password_stdin:
            raise CommandError(
                "Pass --password-stdin and send the password on standard input, e.g.\n"
                f"  echo 'a long passphrase' | python manage.py createuser {username} "
                f"--role {role} --password-stdin"
            )
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            user = user_create(
                username=username, role=role, password=password, email=email,
                first_name=first_name, last_name=last_name,
            )  # fmt: skip
        except ValidationError as exc:
            lines = [f"{field}: {msg}" for field, msgs in exc.message_dict.items() for msg in msgs]
            raise CommandError("User not created.\n" + "\n".join(lines)) from None
        self.stdout.write(f"Created {user.role} '{user.username}'.")

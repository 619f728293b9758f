import sys

import pghistory
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.roles import Role, is_system_account
from accounts.services import user_create


class Command(BaseCommand):
    help = (
        "Create a user with a role. A person's password is read from standard input "
        "(--password-stdin); an interface account has none and gets its token from issue_token."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(Role.values)}")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input (required, except for interface "
            "accounts, which have no password)",
        )

    def handle(self, *args, username, role, email, first_name, last_name, password_stdin, **kw):
        system_account = role in Role.values and is_system_account(User(role=role))
        if system_account and password_stdin:
            raise CommandError(
                f"An {role} account signs in with an API token only and has no password. "
                "Leave out --password-stdin, e.g.\n"
                f"  python manage.py createuser {username} --role {role}\n"
                f"  python manage.py issue_token {username}"
            )
        if not system_account and not password_stdin:
            raise CommandError(
                "Pass --password-stdin and send the password on standard input, e.g.\n"
                f"  echo 'a long passphrase' | python manage.py createuser {username} "
                f"--role {role} --password-stdin"
            )
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        try:
            # The history names this command as the actor.
            with pghistory.context(source="createuser"):
                user = user_create(
                    username=username, role=role, password=password, email=email,
                    first_name=first_name, last_name=last_name,
                )  # fmt: skip
        except ValidationError as exc:
            lines = [f"{field}: {msg}" for field, msgs in exc.message_dict.items() for msg in msgs]
            raise CommandError("User not created.\n" + "\n".join(lines)) from None
        self.stdout.write(f"Created {user.role} '{user.username}'.")
        if system_account:
            self.stdout.write(f"Issue its API token with: python manage.py issue_token {username}")

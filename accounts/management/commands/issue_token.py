import pghistory
from django.core.management.base import BaseCommand, CommandError

from accounts import tokens
from accounts.models import ApiToken, User


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME, alone on standard output (how an administrator "
        "equips an interface account). An interface account's token lasts until revoked; "
        "anyone else's expires after API_TOKEN_HOURS. Shown once: only a hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user is called '{username}'. Create it first, e.g.\n"
                f"  python manage.py createuser {username} --role interface"
            )
        if not user.is_active:
            raise CommandError(
                f"'{username}' is deactivated: a token would be refused. Reactivate the account "
                "in the admin first."
            )
        # The history names this command as the actor.
        with pghistory.context(source="issue_token"):
            token, secret = tokens.token_issue(
                user=user, actor=None, source=ApiToken.Source.COMMAND
            )
        self.stdout.write(secret)
        lasts = f"expires {token.expiry.isoformat()}" if token.expiry else "lasts until revoked"
        self.stderr.write(f"Issued an API token for '{username}' ({user.role}); it {lasts}.")

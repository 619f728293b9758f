from datetime import date

from django.core.management.base import BaseCommand, CommandError

from surveillance import engine


class Command(BaseCommand):
    help = "Run the surveillance engine for every patient now and print the counts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="evaluate as if today were this date (default: today in TIME_ZONE)",
        )

    def handle(self, *args, as_of=None, **options):
        today = None
        if as_of:
            try:
                today = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(
                    f"--as-of {as_of!r} is not a date; type it as YYYY-MM-DD, "
                    "e.g. --as-of 2026-06-15"
                ) from None
        stats = engine.run_all(today=today)
        self.stdout.write(f"evaluated {stats.evaluated} patients")
        self.stdout.write(stats.summary())

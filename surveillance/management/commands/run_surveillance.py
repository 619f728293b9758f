from datetime import date

from django.core.management.base import BaseCommand, CommandError

from surveillance import engine, fanout


class Command(BaseCommand):
    help = (
        "Run the surveillance engine now and print the counts: eligible, planned, opened, "
        "resolved, and failed when a patient's evaluation failed (logged and skipped; the "
        "exit status is non-zero only when every patient failed)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="evaluate as if today were this date (default: today in TIME_ZONE)",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help=(
                "evaluate every patient. Every run evaluates every patient today, so this is "
                "the same run as without it; it is for scripts that must not depend on the "
                "default, which may later skip patients whose verdict cannot have changed."
            ),
        )

        parser.add_argument(
            "--via-workers",
            action="store_true",
            help=(
                "run through the Celery workers instead of in this process: the patients are "
                "split by lock bucket into shares that every worker takes from the queue; "
                "waits for them all and prints the same counts"
            ),
        )

    def handle(self, *args, as_of=None, full=False, via_workers=False, **options):
        today = None
        if as_of:
            try:
                today = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(
                    f"--as-of {as_of!r} is not a date; type it as YYYY-MM-DD, "
                    "e.g. --as-of 2026-06-15"
                ) from None
        if via_workers and not fanout.workers_answering():
            raise CommandError(
                "--via-workers: no Celery worker answered; start one (make run starts one) "
                "or run without --via-workers"
            )
        stats = (
            fanout.run_all_via_workers(today=today) if via_workers else engine.run_all(today=today)
        )
        self.stdout.write(f"evaluated {stats.evaluated} patients")
        self.stdout.write(stats.summary())
        if stats.all_failed:
            raise CommandError(
                f"the evaluation of every patient failed ({stats.failed}); the log names "
                "each patient and its error"
            )

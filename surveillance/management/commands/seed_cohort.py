from datetime import date

from django.core.management.base import BaseCommand, CommandError

from patients.models import clinic_today
from surveillance import engine
from surveillance.synthetic_cohort import CohortError, seed_cohort
from surveillance.synthetic_cohort.history import add_programme_history


class Command(BaseCommand):
    help = (
        "Load a large deterministic synthetic cohort (MRNs SYN0000000...) for benchmarks. "
        "Same --patients, --seed and --as-of give the same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True, metavar="N")
        parser.add_argument("--seed", type=int, default=1, metavar="S")
        parser.add_argument(
            "--as-of", metavar="YYYY-MM-DD", help="the cohort's today (default: today)"
        )
        parser.add_argument(
            "--replace", action="store_true", help="delete the synthetic cohort loaded before"
        )
        parser.add_argument(
            "--history",
            action="store_true",
            help="then run the engine once and give the cohort a year of programme history "
            "(due dates, result and alert times, decisions and switches; "
            "surveillance/synthetic_cohort/history.py), so every programme figure counts",
        )
        parser.add_argument(
            "--no-audit",
            action="store_true",
            help="skip the pghistory insert/delete triggers for this load (measurement only: "
            "the load then leaves no history rows, just the one pghistory context row)",
        )

    def handle(
        self, *args, patients, seed, as_of=None, replace=False, no_audit=False, history=False,
        **opts,
    ):  # fmt: skip
        verbosity = opts.get("verbosity", 1)
        try:
            stats = seed_cohort(
                patients=patients, seed=seed, today=_date(as_of), replace=replace,
                audit=not no_audit, progress=verbosity >= 1,
            )  # fmt: skip
        except CohortError as exc:
            raise CommandError(str(exc)) from None
        if history:
            today = _date(as_of) or clinic_today()
            engine.run_all(today=today)
            add_programme_history(today=today)
        if verbosity < 1:
            return
        if stats.deleted:
            removed = ", ".join(f"{t} {n:,}" for t, n in stats.deleted.items() if n)
            self.stdout.write(f"replaced the previous synthetic cohort (deleted {removed})")
        width = max(len(t) for t in stats.rows)
        for table, count in stats.rows.items():
            self.stdout.write(f"  {table:<{width}}  {count:>10,}")
        self.stdout.write(
            f"seeded {patients:,} patients ({sum(stats.rows.values()):,} rows, seed {seed}, "
            f"audit {'off' if no_audit else 'on'}) in {stats.seconds:.1f} s "
            f"(generating {stats.generate_seconds:.1f} s, overlapped with COPY "
            f"{stats.copy_seconds:.1f} s; commit {stats.commit_seconds:.1f} s; "
            f"ANALYZE {stats.analyze_seconds:.1f} s)"
        )


def _date(as_of: str | None) -> date | None:
    if not as_of:
        return None
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise CommandError(
            f"--as-of {as_of!r} is not a date; type it as YYYY-MM-DD, e.g. --as-of 2026-06-15"
        ) from None

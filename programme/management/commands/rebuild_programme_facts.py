import time

from django.core.management.base import BaseCommand
from django.db import transaction

from surveillance import programme_facts
from surveillance.models import ProgrammeFact, ProgrammeMonth


class Command(BaseCommand):
    help = (
        "Recompute the programme figures' kept facts (surveillance/programme_facts.py) from "
        "every patient's record. The engine keeps them after each change; run this once after "
        "installing this version, and after loading records in bulk without the services."
    )

    def handle(self, *args, **options):
        started = time.perf_counter()
        with transaction.atomic():
            programme_facts.rebuild()
        self.stdout.write(
            f"{ProgrammeFact.objects.count():,} facts, "
            f"{ProgrammeMonth.objects.count():,} monthly sums "
            f"in {time.perf_counter() - started:.1f} s"
        )

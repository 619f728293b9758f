import time

from django.core.management.base import BaseCommand
from django.db import transaction

from surveillance import programme_facts
from surveillance.models import (
    ProgrammeFact,
    ProgrammeFunnel,
    ProgrammeMonth,
    ProgrammeMonthTotal,
)


class Command(BaseCommand):
    help = (
        "Recompute the programme figures' kept facts, monthly sums and funnel days "
        "(surveillance/programme_facts.py) from every patient's record. The engine keeps them "
        "after each change; run this after loading records in bulk without the services."
    )

    def handle(self, *args, **options):
        started = time.perf_counter()
        with transaction.atomic():
            programme_facts.rebuild()
        self.stdout.write(
            f"{ProgrammeFact.objects.count():,} facts, "
            f"{ProgrammeMonth.objects.count():,} monthly sums per oncologist, "
            f"{ProgrammeMonthTotal.objects.count():,} over all of them, "
            f"{ProgrammeFunnel.objects.count():,} patients' funnel days "
            f"in {time.perf_counter() - started:.1f} s"
        )

"""One day of clinic life on a synthetic cohort: what arrives between two nightly runs.

For the incremental engine's simulation test (tests/surveillance/test_incremental_simulation.py)
and its benchmark (bench/incremental_bench.py). Each call writes, as of `today`: planned draws
collected (a few a week late, some never), results back from the laboratory (some late enough
to be overdue; ESR1 detected, a variant of unknown significance, or failed now and then), scans
(some dated a few days back, some showing progression, after which the treatment ends, now or
on a date ahead, and the next line starts), appointments ahead, decisions on open ESR1 alerts
(through the decision service, as an oncologist makes them: repeat tests, switches, deferrals,
dismissals) and now and then a patient who dies.

Clinical records are written set-wise through the ORM, not through the per-record services,
so that a day for 100,000 patients takes seconds; each changed patient gets the outbox mark a
service would have left (`mark_changed`), so the engine learns of the change as it would. The
decisions do go through the service: there are few of them and they have their own effects
(pinned draws, a switch ending the treatment).
"""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.models import Appointment, Assessment, Patient, PendingEvaluation, Treatment
from surveillance.models import Alert, Draw, Result, Variant
from surveillance.services.decisions import alert_resolve
from surveillance.synthetic_cohort.mix import (
    VARIANT_FORMS,
    pick_assay,
    pick_clone,
    pick_modality,
    pick_switch_serd,
    pick_vus,
)

# Chances per patient and day (or per waiting draw, result, alert and day).
COLLECT = 0.35  # a draw due (or up to 3 days ahead) is collected today
COLLECT_LATE = 0.08  # ... once it is more than two weeks late
REPORT = 0.2  # a result comes back, once the draw is 3 days old
SCAN = 1 / 90
APPOINTMENT = 1 / 30
DECIDE = 0.25  # an open ESR1 alert 2 days old or more is decided
DEATH = 1 / 20_000
NEXT_LINE = 0.6  # after a scan showing progression


@dataclass
class Day:
    today: date
    counts: dict = field(default_factory=dict)
    changed: set = field(default_factory=set)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def simulate_day(today: date, rng: random.Random, *, patient_ids: list[int], actor) -> Day:
    """Write one day of changes as of `today` and mark the changed patients; `actor` is the
    oncologist who decides. Deterministic for the same database, rng state and ids."""
    day = Day(today=today)
    with transaction.atomic():
        _collect(day, rng)
        _report(day, rng)
        progressed = _scans(day, rng, patient_ids)
        _next_lines(day, rng, progressed)
        _appointments(day, rng, patient_ids)
        _deaths(day, rng, patient_ids)
        mark_changed(day.changed)
    _decide(day, rng, actor)  # each decision commits (and marks) on its own, as in the clinic
    return day


def mark_changed(patient_ids) -> None:
    """The outbox marks the record services leave (patients.outbox.patient_changed), set-wise."""
    now = timezone.now()
    PendingEvaluation.objects.bulk_create(
        [
            PendingEvaluation(patient_id=pid, marked_at=now, attempts=0, next_attempt_at=now)
            for pid in sorted(patient_ids)
        ],
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=["marked_at", "attempts", "next_attempt_at"],
    )


def _collect(day: Day, rng: random.Random) -> None:
    today = day.today
    planned = Draw.objects.filter(status="planned", due_date__lte=today + timedelta(days=3))
    # A patient whose sample was already taken today (one sample is one draw).
    drawn_today = set(
        Draw.objects.filter(collected_on=today, status__in=["collected", "resulted"]).values_list(
            "patient_id", flat=True
        )
    )
    collected = []
    for draw in planned.order_by("id"):
        late = (today - draw.due_date).days > 14
        if rng.random() >= (COLLECT_LATE if late else COLLECT) or draw.patient_id in drawn_today:
            continue
        draw.status, draw.collected_on, draw.pinned = "collected", today, False
        draw.assay = pick_assay(rng)
        collected.append(draw)
        day.changed.add(draw.patient_id)
    Draw.objects.bulk_update(collected, ["status", "collected_on", "pinned", "assay"])
    day.count("draws collected", len(collected))


def _report(day: Day, rng: random.Random) -> None:
    today = day.today
    waiting = Draw.objects.filter(
        status="collected", result__isnull=True, collected_on__lte=today - timedelta(days=3)
    )
    draws, results, variants = [], [], []
    for draw in waiting.order_by("id"):
        if rng.random() >= REPORT:
            continue
        roll = rng.random()
        if roll < 0.08:
            result = Result(draw=draw, reported_on=today, status="failed", esr1_status="failed")
        else:
            found = []
            if roll < 0.16:
                found.append(VARIANT_FORMS[("ESR1", pick_clone(rng))])
            elif roll < 0.20:
                found.append(VARIANT_FORMS[("ESR1", pick_vus(rng))])
            detected = any(form[3] for form in found)
            result = Result(
                draw=draw, reported_on=today, status="final",
                esr1_status="detected" if detected else "not_detected",
            )  # fmt: skip
            for gene, protein_change, short, activating, vus in found:
                vaf = Decimal(f"{rng.uniform(0.1, 5):.2f}")
                variants.append(
                    Variant(
                        result=result, gene=gene, protein_change=protein_change, short=short,
                        vaf_percent=vaf, esr1_activating=activating, esr1_vus=vus,
                    )
                )  # fmt: skip
        draw.status = "resulted"
        draws.append(draw)
        results.append(result)
        day.changed.add(draw.patient_id)
    Result.objects.bulk_create(results)
    for variant in variants:
        variant.result_id = variant.result.id
    Variant.objects.bulk_create(variants)
    Draw.objects.bulk_update(draws, ["status"])
    day.count("results", len(results))


def _sample(rng: random.Random, ids: list[int], chance: float) -> list[int]:
    """About `chance` of `ids` (the fraction rounded up or down at random)."""
    n = int(len(ids) * chance)
    n += 1 if rng.random() < len(ids) * chance - n else 0
    return rng.sample(ids, min(n, len(ids)))


def _scans(day: Day, rng: random.Random, ids: list[int]) -> list[int]:
    scans, progressed = [], []
    for pid in _sample(rng, ids, SCAN):
        response = rng.choices(["SD", "PR", "CR", "PD"], weights=[70, 15, 3, 12])[0]
        # Some are recorded a few days after the scan.
        on = day.today - timedelta(days=rng.choice([0, 0, 0, 1, 3, 7]))
        scans.append(Assessment(patient_id=pid, date=on, modality=pick_modality(rng),
                                response=response))  # fmt: skip
        day.changed.add(pid)
        if response == "PD":
            progressed.append(pid)
    Assessment.objects.bulk_create(scans)
    day.count("scans", len(scans))
    return progressed


def _next_lines(day: Day, rng: random.Random, progressed: list[int]) -> None:
    """After progression, often the current metastatic line ends (today, or on a date a
    week or two ahead) and the next starts that day."""
    today = day.today
    current = Treatment.objects.filter(
        patient_id__in=progressed, setting="metastatic", start_date__lt=today, end_date__isnull=True
    ).order_by("patient_id", "-start_date")
    ended, started, seen = [], [], set()
    for treatment in current:
        if treatment.patient_id in seen or rng.random() >= NEXT_LINE:
            continue
        seen.add(treatment.patient_id)
        switch_on = today + timedelta(days=rng.choice([0, 0, 7, 14]))
        treatment.end_date, treatment.end_reason = switch_on, "progression"
        ended.append(treatment)
        started.append(
            Treatment(
                patient_id=treatment.patient_id, line_number=treatment.line_number + 1,
                setting="metastatic", endocrine_therapy_id="fulvestrant",
                cdk46_inhibitor_id=treatment.cdk46_inhibitor_id, start_date=switch_on,
            )
        )  # fmt: skip
        day.changed.add(treatment.patient_id)
    Treatment.objects.bulk_update(ended, ["end_date", "end_reason"])
    Treatment.objects.bulk_create(started)
    day.count("next lines", len(started))


def _appointments(day: Day, rng: random.Random, ids: list[int]) -> None:
    booked = [
        Appointment(
            patient_id=pid,
            date=day.today + timedelta(days=rng.randint(1, 60)),
            kind=rng.choice(["clinic", "clinic", "imaging"]),
        )
        for pid in _sample(rng, ids, APPOINTMENT)
    ]
    Appointment.objects.bulk_create(booked)
    day.changed.update(a.patient_id for a in booked)
    day.count("appointments", len(booked))


def _deaths(day: Day, rng: random.Random, ids: list[int]) -> None:
    died = _sample(rng, ids, DEATH)
    Patient.objects.filter(id__in=died, status="active").update(status="deceased")
    day.changed.update(died)
    day.count("deaths", len(died))


def _decide(day: Day, rng: random.Random, actor) -> None:
    today = day.today
    # Two days after the alert opened (by the clock: the simulation test moves it day by day).
    waiting = Alert.objects.filter(
        status="open",
        kind__in=["esr1_switch", "esr1_at_progression", "esr1_vus_review"],
        created_at__lte=timezone.now() - timedelta(days=2),
    ).order_by("id")
    for alert in waiting:
        if rng.random() >= DECIDE:
            continue
        choices = ["repeat_test", "deferred", "dismissed"]
        if alert.kind == "esr1_switch":
            choices.append("switched")
        decision = rng.choice(choices)
        extra = {}
        if decision == "repeat_test":
            extra["date"] = today + timedelta(days=rng.randint(7, 30))
        elif decision == "switched":
            extra["switch_date"] = today + timedelta(days=rng.choice([0, 3, 10]))
            extra["new_endocrine_therapy"] = pick_switch_serd(rng)
        note = "simulated decision; no recent scan on file"
        try:
            alert_resolve(
                actor=actor, alert=alert, decision=decision,
                evidence_version=alert.evidence_version, note=note, **extra,
            )  # fmt: skip
        except ValidationError:
            # Refused (say, a switch with no first-line treatment running that day): the
            # oncologist defers instead.
            decision = "deferred"
            alert_resolve(
                actor=actor, alert=alert, decision=decision,
                evidence_version=alert.evidence_version, note=note,
            )  # fmt: skip
        day.changed.add(alert.patient_id)
        day.count(f"decisions {decision}")

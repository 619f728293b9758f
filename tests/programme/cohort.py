"""A small clinic whose programme figures are worked out by hand (tests/programme/).

Dates hang off calendar months so the monthly split is the same on any day the suite runs:
A is the month two before today's, B the month before, C today's month (its first day up to
today). `a(5)` is the 5th of month A. Everything happens in A and B, so every date is in the
past and every planned draw in A is more than 14 days past due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from patients.models import Treatment
from surveillance import programme_facts
from surveillance.models import Alert
from tests.factories import (
    TODAY,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    UserFactory,
)

C = TODAY.replace(day=1)
B = (C - timedelta(days=1)).replace(day=1)
A = (B - timedelta(days=1)).replace(day=1)
LONG_AGO = A - timedelta(days=200)


def a(day: int) -> date:
    return A + timedelta(days=day - 1)


def b(day: int) -> date:
    return B + timedelta(days=day - 1)


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A moment of that day in the clinic's zone."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=ZoneInfo(settings.TIME_ZONE))


def oncologist(username: str, first: str, last: str):
    return UserFactory(username=username, first_name=first, last_name=last, role="oncologist")


def patient_on_surveillance(onc, *, start: date = LONG_AGO, end=None, end_reason="", **kw):
    """A patient on first-line letrozole + palbociclib from `start`."""
    patient = PatientFactory(oncologist=onc, enrolled_on=kw.pop("enrolled_on", start), **kw)
    treatment = TreatmentFactory(
        patient=patient, start_date=start, end_date=end, end_reason=end_reason
    )
    return patient, treatment


def collected(
    patient,
    *,
    on: date,
    due: date | None = None,
    reported: date | None = None,
    failed: bool = False,
    detected: bool = False,
    saved_at: datetime | None = None,
):
    """A collected draw (fulfilling a planned one when `due` is given) and its result."""
    draw = DrawFactory(
        patient=patient, status="resulted" if reported else "collected", collected_on=on,
        due_date=due,
    )  # fmt: skip
    if reported is None:
        return draw, None
    result = ResultFactory(
        draw=draw, reported_on=reported, status="failed" if failed else "final",
        esr1_status="failed" if failed else ("detected" if detected else "not_detected"),
    )  # fmt: skip
    if saved_at is not None:
        type(result).objects.filter(pk=result.pk).update(created_at=saved_at)
    return draw, result


def planned(patient, *, due: date):
    return DrawFactory(
        patient=patient, status="planned", due_date=due, collected_on=None, assay="", accession=""
    )


def cancelled(patient, *, due: date):
    return DrawFactory(
        patient=patient, status="cancelled", due_date=due, collected_on=None, assay="",
        accession="", cancel_reason="Patient admitted elsewhere.",
    )  # fmt: skip


def progression(patient, *, on: date):
    return AssessmentFactory(patient=patient, date=on, response="PD")


def esr1_alert(
    treatment,
    result,
    *,
    kind="esr1_switch",
    raised: datetime,
    decided: datetime | None = None,
    decision: str = "",
    switch_on: date | None = None,
    by=None,
) -> Alert:
    """An ESR1 alert as the engine raises it (evidence naming the treatment, the result in
    result_ids), decided as the decision service records it; a switch ends the treatment
    and starts fulvestrant on the same line with the same CDK4/6 inhibitor."""
    patient = treatment.patient
    details = {}
    if decision == "switched":
        Treatment.objects.filter(pk=treatment.pk).update(
            end_date=switch_on, end_reason="esr1_switch"
        )
        new = TreatmentFactory(
            patient=patient, start_date=switch_on, endocrine_therapy_id="fulvestrant",
            cdk46_inhibitor_id=treatment.cdk46_inhibitor_id,
        )  # fmt: skip
        details = {"switch_date": switch_on.isoformat(), "ended_treatment_id": treatment.id,
                   "new_treatment_id": new.id, "new_endocrine_therapy": "fulvestrant"}  # fmt: skip
    alert = Alert.objects.create(
        patient=patient, kind=kind, severity="high" if kind == "esr1_switch" else "medium",
        status="resolved" if decision else "open", title="ESR1 D538G (0.8%) detected",
        rationale="ESR1 mutation detected in ctDNA.",
        evidence={"result_ids": [result.id], "treatment_id": treatment.id},
        result_ids=[result.id], policy_version=1, decision=decision, decision_details=details,
        resolved_at=decided, resolved_by=by if decision else None,
        note="Discussed with the patient." if decision in ("deferred", "dismissed") else "",
    )  # fmt: skip
    Alert.objects.filter(pk=alert.pk).update(created_at=raised)
    alert.refresh_from_db()
    return alert


# Words that must never reach the programme's answers: the patients' names, MRNs and birth
# dates. Each patient gets its own, so a leak of any one is caught.
@dataclass
class Clinic:
    north: object
    south: object
    patients: list = field(default_factory=list)

    def identifying_words(self) -> list[str]:
        words = []
        for p in self.patients:
            born = p.birth_date
            words += [p.given_name, p.family_name, p.mrn, born.isoformat(),
                      born.strftime("%d/%m/%Y"), born.strftime("%-d %B %Y")]  # fmt: skip
        return words


def _person(n: int) -> dict:
    return {
        "given_name": f"Quilla{chr(65 + n)}",
        "family_name": f"Vantorp{chr(65 + n)}",
        "mrn": f"PHI-{n:04d}-X",
        "birth_date": date(1950 + n, 1 + n % 12, 3 + n),
    }


def build_clinic() -> Clinic:
    """The hand-worked clinic of test_metrics.py (its comments give every figure)."""
    north = oncologist("dr.north", "Nora", "North")
    south = oncologist("dr.south", "Sam", "South")
    clinic = Clinic(north=north, south=south)

    def add(onc, n, **kw):
        patient, treatment = patient_on_surveillance(onc, **_person(n), **kw)
        clinic.patients.append(patient)
        return patient, treatment

    # P1 (North): on time by 2 days; an older draw and result before the period.
    p1, _ = add(north, 1)
    collected(p1, due=A - timedelta(days=30), on=A - timedelta(days=28),
              reported=A - timedelta(days=20))  # fmt: skip
    collected(p1, due=a(3), on=a(5), reported=a(12))
    # P2 (North): collected exactly 14 days after its due date: on time.
    p2, _ = add(north, 2)
    collected(p2, due=a(4), on=a(18), reported=a(28))
    # P3 (North): 15 days late; the sample failed.
    p3, _ = add(north, 3)
    collected(p3, due=a(6), on=a(21), reported=a(23), failed=True)
    # P4 (South): ESR1 before progression, switched to a SERD; monitored until the switch.
    p4, t4 = add(south, 4)
    _, r4 = collected(p4, due=a(10), on=a(12), reported=a(20), detected=True,
                      saved_at=at(a(20), 9, 58))  # fmt: skip
    esr1_alert(t4, r4, raised=at(a(20), 10, 0), decided=at(a(23), 16), decision="switched",
               switch_on=a(27), by=south)  # fmt: skip
    # P5 (South): progression documented on b(4); ESR1 found after it, dismissed.
    p5, t5 = add(south, 5)
    progression(p5, on=b(4))
    _, r5 = collected(p5, on=b(6), reported=b(14), detected=True, saved_at=at(b(14), 11, 55))
    esr1_alert(t5, r5, kind="esr1_at_progression", raised=at(b(14), 12, 0),
               decided=at(b(16), 9), decision="dismissed", by=south)  # fmt: skip
    # P6 (North): ESR1 before progression, deferred.
    p6, t6 = add(north, 6)
    _, r6 = collected(p6, due=b(8), on=b(9), reported=b(15), detected=True,
                      saved_at=at(b(15), 8, 0, 0))  # fmt: skip
    esr1_alert(t6, r6, raised=at(b(15), 8, 0, 30), decided=at(b(17), 14), decision="deferred",
               by=north)  # fmt: skip
    # P7 (North): a result in A without a due date, then a draw planned for a(15) never taken.
    p7, _ = add(north, 7)
    collected(p7, on=a(2), reported=a(9))
    planned(p7, due=a(15))
    # P8 (South): a cancelled draw, then one on its due day.
    p8, _ = add(south, 8)
    cancelled(p8, due=b(10))
    collected(p8, due=b(12), on=b(12), reported=b(19))
    # P9 (South): inactive with an open treatment: not monitored.
    add(south, 9, status="inactive")
    # P10 (North): died; treatment ended b(1): monitored in A only.
    add(north, 10, status="deceased", end=b(1), end_reason="death")
    # P11 (North): HER2-positive: outside the programme.
    add(north, 11, her2_status="positive")
    # P12 (South): enrolled b(10) on a treatment begun long before; a slow report.
    p12, _ = add(south, 12, enrolled_on=b(10))
    collected(p12, on=b(11), reported=b(28))
    # Written by factories, not the services: the programme facts the engine keeps after a
    # change are made the way a bulk load's are, from scratch.
    programme_facts.rebuild()
    return clinic

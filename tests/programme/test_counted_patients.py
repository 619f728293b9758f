"""Patients monitored and the funnel, read from kept sums, equal a plain count of the patients
over their kept spans and events, for any period: whole months, partial ones, single days,
and periods that cut between two spells of one patient's surveillance."""

import random
from datetime import timedelta

import pytest

from programme.selectors import programme_metrics
from surveillance import programme_facts
from surveillance.models import ProgrammeFact
from tests.factories import TODAY, TreatmentFactory
from tests.programme.cohort import (
    LONG_AGO,
    A,
    B,
    a,
    at,
    b,
    collected,
    esr1_alert,
    oncologist,
    patient_on_surveillance,
    progression,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def spells():
    """Patients whose surveillance starts, stops and starts again in every way the records
    allow, with draws and detections around the gaps."""
    east = oncologist("dr.east", "Eve", "East")
    west = oncologist("dr.west", "Wim", "West")
    # Open since long ago; a draw in A.
    steady, _ = patient_on_surveillance(east)
    collected(steady, on=a(8), reported=a(15))
    # Off surveillance (tamoxifen) from a5 to a20, back on an aromatase inhibitor after; a
    # draw in the gap.
    paused, _ = patient_on_surveillance(east, end=a(5), end_reason="toxicity")
    TreatmentFactory(patient=paused, start_date=a(5), end_date=a(20), end_reason="toxicity",
                     endocrine_therapy_id="tamoxifen", cdk46_inhibitor_id=None)  # fmt: skip
    TreatmentFactory(patient=paused, start_date=a(20), cdk46_inhibitor_id="abemaciclib")
    collected(paused, on=a(12), reported=a(19))
    # Two regimens back to back (b10), one island of days.
    changed, _ = patient_on_surveillance(west, end=b(10), end_reason="toxicity")
    TreatmentFactory(patient=changed, start_date=b(10), cdk46_inhibitor_id="ribociclib")
    # Off surveillance for one day (a25), enrolled after the first treatment began.
    twice, _ = patient_on_surveillance(
        west, start=A - timedelta(days=20), enrolled_on=a(3), end=a(25), end_reason="toxicity"
    )
    TreatmentFactory(patient=twice, start_date=a(25), end_date=a(26), end_reason="toxicity",
                     endocrine_therapy_id="tamoxifen", cdk46_inhibitor_id=None)  # fmt: skip
    TreatmentFactory(patient=twice, start_date=a(26), end_date=b(6), end_reason="toxicity",
                     cdk46_inhibitor_id="ribociclib")  # fmt: skip
    collected(twice, on=a(25), reported=b(9))
    # Three spells: until a(9), from a(14) to b(3), from b(20); ESR1 found and switched in B.
    thrice, _ = patient_on_surveillance(west, start=LONG_AGO, end=a(10), end_reason="toxicity")
    TreatmentFactory(patient=thrice, start_date=a(14), end_date=b(4), end_reason="toxicity",
                     cdk46_inhibitor_id="ribociclib")  # fmt: skip
    last = TreatmentFactory(patient=thrice, start_date=b(20), cdk46_inhibitor_id="abemaciclib")
    _, result = collected(thrice, on=b(21), reported=b(24), detected=True)
    esr1_alert(last, result, raised=at(b(25)), decided=at(b(26)), decision="switched",
               switch_on=b(27), by=west)  # fmt: skip
    # Progression on a(17) ends the spell; found ESR1 after it.
    progressed, treatment = patient_on_surveillance(east, start=A - timedelta(days=40))
    progression(progressed, on=a(17))
    _, result = collected(progressed, on=a(18), reported=a(26), detected=True)
    esr1_alert(treatment, result, kind="esr1_at_progression", raised=at(a(27)))
    # Starts after today (a treatment entered ahead of time).
    patient_on_surveillance(east, start=TODAY + timedelta(days=2))
    # A single day on surveillance.
    patient_on_surveillance(west, start=b(15), end=b(16), end_reason="toxicity")
    # Across the turn of the month, a draw in it.
    brief, _ = patient_on_surveillance(east, start=a(22), end=b(2), end_reason="toxicity")
    collected(brief, on=a(23), reported=a(30))
    programme_facts.rebuild()
    return east, west


def counted_by_hand(start, end):
    """The definitions, counted over the kept facts in Python."""
    facts = list(
        ProgrammeFact.objects.values_list("patient_id", "oncologist_id", "figure", "on_date",
                                          "last_day")
    )  # fmt: skip

    def in_range(day):
        return start <= day <= end

    def monitored_in(lo, hi):
        return {
            (patient, onc)
            for patient, onc, figure, since, last_day in facts
            if figure == "span" and since <= hi and (last_day is None or last_day >= lo)
        }

    def with_event(figures):
        return {p for p, _, figure, day, _ in facts if figure in figures and in_range(day)}

    monitored = monitored_in(start, end)
    patients = {patient for patient, _ in monitored}
    tested = patients & with_event({"collected"})
    detected = tested & with_event({"detection_before", "detection_at"})
    switched = detected & with_event({"decision_switched"})
    by_oncologist = {}
    for _, onc in monitored:
        by_oncologist[onc] = by_oncologist.get(onc, 0) + 1
    months = []
    first = start.replace(day=1)
    while first <= end:
        following = (first + timedelta(days=32)).replace(day=1)
        lo, hi = max(first, start), min(following - timedelta(days=1), end)
        months.append(len({p for p, _ in monitored_in(lo, hi)}))
        first = following
    return {
        "monitored": len(patients),
        "funnel": {
            "monitored": len(patients),
            "tested": len(tested),
            "esr1_detected": len(detected),
            "switched": len(switched),
        },  # fmt: skip
        "by_oncologist": by_oncologist,
        "by_month": months,
    }


def counted_from_sums(start, end, oncologists):
    m = programme_metrics(start=start, end=end)
    return {
        "monitored": m["monitored"],
        "funnel": m["funnel"],
        "by_oncologist": {
            onc.id: row["monitored"]
            for onc in oncologists
            for row in m["by_oncologist"]
            if row["oncologist"] == onc.username and row["monitored"]
        },
        "by_month": [row["monitored"] for row in m["by_month"]],
    }


def test_the_spells_make_islands_and_gaps(spells):
    figures = ProgrammeFact.objects.values_list("figure", flat=True)
    # paused and twice 2 spells, thrice 3: four gaps; changed one island.
    assert list(figures.filter(figure="gap")) == ["gap"] * 4
    assert figures.filter(figure="island_start").count() == 13


@pytest.mark.parametrize(
    "period",
    [
        (A, TODAY), (A, B - timedelta(days=1)), (B, TODAY), (a(5), a(20)), (a(6), a(19)),
        (a(4), a(4)), (a(20), a(20)), (a(10), a(13)), (a(9), a(14)), (b(4), b(19)),
        (b(3), b(20)), (a(25), a(25)), (a(24), a(26)), (b(15), b(15)), (b(16), b(16)),
        (b(10), b(10)), (TODAY, TODAY),
        (TODAY + timedelta(days=2), TODAY + timedelta(days=40)), (a(18), b(2)),
    ],
)  # fmt: skip
def test_chosen_periods_count_as_by_hand(spells, period):
    start, end = period
    assert counted_from_sums(start, end, spells) == counted_by_hand(start, end)


def test_random_periods_count_as_by_hand(spells):
    rng = random.Random(16)
    earliest = A - timedelta(days=60)
    for _ in range(25):
        start = earliest + timedelta(days=rng.randrange(150))
        end = start + timedelta(days=rng.randrange(120))
        assert counted_from_sums(start, end, spells) == counted_by_hand(start, end), (start, end)

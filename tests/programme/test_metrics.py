"""Programme metrics on a clinic whose every figure is worked out by hand.

The clinic (tests/programme/cohort.py; A and B are the two months before today's, C is
today's month):

  patient  onc    monitored          draw due -> collected    reported (days)   ESR1
  P1       North  A B C              a3 -> a5   (+2, on time) a12 (7)
                                     (and one due, collected and reported before A)
  P2       North  A B C              a4 -> a18  (+14, on time) a28 (10)
  P3       North  A B C              a6 -> a21  (+15, late)   a23 (2) failed
  P4       South  A (switched a27)   a10 -> a12 (+2, on time) a20 (8)  switch alert a20
                                                                       10:00 (result saved
                                                                       9:58), decided a23
                                                                       switched, SERD a27
  P5       South  A B (PD b4)        - -> b6 (no due date)    b14 (8)  at-progression alert
                                                                       b14 12:00 (11:55),
                                                                       dismissed b16
  P6       North  A B C              b8 -> b9   (+1, on time) b15 (6)  switch alert b15
                                                                       8:00:30 (8:00:00),
                                                                       deferred b17
  P7       North  A B C              - -> a2                  a9 (7)
                                     a15 -> still planned (late)
  P8       South  A B C              b10 cancelled; b12 -> b12 (on time) b19 (7)
  P9       South  - (inactive, open treatment)
  P10      North  A (died, treatment ended b1)
  P11      North  - (HER2-positive)
  P12      South  B C (enrolled b10) - -> b11                 b28 (17)
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from programme import selectors
from programme.forms import default_start
from programme.selectors import calendar_months
from surveillance import programme_facts
from surveillance.models import Alert
from tests.factories import TODAY, TreatmentFactory
from tests.programme.cohort import (
    A,
    B,
    C,
    a,
    at,
    b,
    build_clinic,
    collected,
    esr1_alert,
    oncologist,
    patient_on_surveillance,
    planned,
    progression,
)

pytestmark = pytest.mark.django_db


def programme_metrics(**period):
    """The figures, after making the programme facts of the records the factories wrote (the
    services and the engine keep them in use; factories bypass both)."""
    programme_facts.rebuild()
    return selectors.programme_metrics(**period)


NO_DECISIONS = {"switched": 0, "repeat_test": 0, "deferred": 0, "dismissed": 0}


def figures(row: dict) -> dict:
    """A row's figures, without its labels and lists."""
    drop = {"from", "to", "month", "oncologist", "name", "by_month", "by_oncologist", "funnel"}
    return {k: v for k, v in row.items() if k not in drop}


def month(metrics: dict, first: date) -> dict:
    return next(row for row in metrics["by_month"] if row["month"] == f"{first:%Y-%m}")


def oncologist_row(metrics: dict, username: str) -> dict:
    return next(row for row in metrics["by_oncologist"] if row["oncologist"] == username)


@pytest.fixture
def clinic():
    return build_clinic()


def test_every_figure_of_the_period_matches_the_hand_count(clinic):
    m = programme_metrics(start=A, end=TODAY)
    assert (m["from"], m["to"]) == (A, TODAY)
    assert figures(m) == {
        # P1-P8, P10, P12 (not P9 inactive and open, not P11 HER2-positive).
        "monitored": 10,
        # Due in the period: P1 a3, P2 a4, P3 a6, P4 a10, P7 a15 (planned), P6 b8, P8 b12;
        # not P1's before A, not P8's cancelled one. On time: P1, P2 (+14), P4, P6, P8.
        "draws_due": 7,
        "draws_on_time_pct": 71.4,  # 5 / 7
        "draws_on_time_pct_n": 7,
        # Reported in the period, days: 7 10 2 8 8 6 7 7 17 -> 2 6 7 7 7 8 8 10 17.
        "turnaround_days_median": 7.0,  # the 5th of 9
        "turnaround_days_median_n": 9,
        "turnaround_days_p90": 11.4,  # rank 0.9 x 8 = 7.2: 10 + 0.2 x (17 - 10)
        "turnaround_days_p90_n": 9,
        "turnaround_within_14_pct": 88.9,  # 8 / 9 (not P12's 17)
        "turnaround_within_14_pct_n": 9,
        "failed_pct": 11.1,  # P3: 1 / 9
        "failed_pct_n": 9,
        # ESR1 alerts: 2, 5 and 0.5 minutes after their result was saved: 3 cases.
        "result_to_alert_minutes_median": None,
        "result_to_alert_minutes_median_n": 3,
        # P4 and P6 before progression, P5 at progression.
        "esr1_detected": 3,
        "detected_before_progression": 2,
        "detected_before_progression_pct": None,
        "detected_before_progression_pct_n": 3,
        # Decisions: P4 3 days, P5 2 days, P6 2 days.
        "detection_to_decision_days_median": None,
        "detection_to_decision_days_median_n": 3,
        "switched": 1,
        # P4: decided a23, SERD from a27: 4 days, one case.
        "decision_to_switch_days_median": None,
        "decision_to_switch_days_median_n": 1,
        "decisions": {"switched": 1, "repeat_test": 0, "deferred": 1, "dismissed": 1},
    }
    # Tested: P1-P8 and P12 had a draw collected in the period (P10 none); detected: P4, P5,
    # P6; switched: P4.
    assert m["funnel"] == {"monitored": 10, "tested": 9, "esr1_detected": 3, "switched": 1}


def test_each_calendar_month_has_its_own_figures(clinic):
    m = programme_metrics(start=A, end=TODAY)
    assert [row["month"] for row in m["by_month"]] == [f"{A:%Y-%m}", f"{B:%Y-%m}", f"{C:%Y-%m}"]
    first, second, current = m["by_month"]
    assert (first["from"], first["to"]) == (A, B - timedelta(days=1))
    assert (current["from"], current["to"]) == (C, TODAY)

    # A: P1-P8 and P10 monitored (P12 enrolled in B). Draws due P1, P2, P3, P4, P7: on time
    # P1, P2, P4. Results P1 7, P2 10, P3 2 (failed), P4 8, P7 7 -> 2 7 7 8 10.
    assert figures(first) == {
        "monitored": 9,
        "draws_due": 5,
        "draws_on_time_pct": 60.0,
        "draws_on_time_pct_n": 5,
        "turnaround_days_median": 7.0,
        "turnaround_days_median_n": 5,
        "turnaround_days_p90": 9.2,  # rank 3.6: 8 + 0.6 x (10 - 8)
        "turnaround_days_p90_n": 5,
        "turnaround_within_14_pct": 100.0,
        "turnaround_within_14_pct_n": 5,
        "failed_pct": 20.0,
        "failed_pct_n": 5,
        "result_to_alert_minutes_median": None,
        "result_to_alert_minutes_median_n": 1,  # P4
        "esr1_detected": 1,
        "detected_before_progression": 1,
        "detected_before_progression_pct": None,
        "detected_before_progression_pct_n": 1,
        "detection_to_decision_days_median": None,
        "detection_to_decision_days_median_n": 1,
        "switched": 1,
        "decision_to_switch_days_median": None,
        "decision_to_switch_days_median_n": 1,
        "decisions": {**NO_DECISIONS, "switched": 1},
    }
    # B: P1, P2, P3, P5 (until b4), P6, P7, P8, P12 monitored; P4 switched in A, P10 died.
    # Draws due P6, P8 (both on time): 2 cases. Results P5 8, P6 6, P8 7, P12 17: 4 cases.
    assert figures(second) == {
        "monitored": 8,
        "draws_due": 2,
        "draws_on_time_pct": None,
        "draws_on_time_pct_n": 2,
        "turnaround_days_median": None,
        "turnaround_days_median_n": 4,
        "turnaround_days_p90": None,
        "turnaround_days_p90_n": 4,
        "turnaround_within_14_pct": None,
        "turnaround_within_14_pct_n": 4,
        "failed_pct": None,
        "failed_pct_n": 4,
        "result_to_alert_minutes_median": None,
        "result_to_alert_minutes_median_n": 2,
        "esr1_detected": 2,
        "detected_before_progression": 1,
        "detected_before_progression_pct": None,
        "detected_before_progression_pct_n": 2,
        "detection_to_decision_days_median": None,
        "detection_to_decision_days_median_n": 2,
        "switched": 0,
        "decision_to_switch_days_median": None,
        "decision_to_switch_days_median_n": 0,
        "decisions": {**NO_DECISIONS, "deferred": 1, "dismissed": 1},
    }
    # C: P1, P2, P3, P6, P7, P8, P12 still monitored; nothing else happened yet.
    assert current["monitored"] == 7
    assert current["draws_due"] == 0 and current["draws_on_time_pct_n"] == 0
    assert current["esr1_detected"] == 0 and current["decisions"] == NO_DECISIONS


def test_each_oncologist_has_the_figures_of_their_patients(clinic):
    m = programme_metrics(start=A, end=TODAY)
    assert [row["oncologist"] for row in m["by_oncologist"]] == ["dr.north", "dr.south"]
    north, south = m["by_oncologist"]
    assert north["name"] == "Nora North" and south["name"] == "Sam South"
    # North: P1, P2, P3, P6, P7, P10 monitored. Draws due P1, P2, P3, P6, P7: on time P1,
    # P2, P6. Results P1 7, P2 10, P3 2 (failed), P6 6, P7 7 -> 2 6 7 7 10.
    assert figures(north) == {
        "monitored": 6,
        "draws_due": 5,
        "draws_on_time_pct": 60.0,
        "draws_on_time_pct_n": 5,
        "turnaround_days_median": 7.0,
        "turnaround_days_median_n": 5,
        "turnaround_days_p90": 8.8,  # rank 3.6: 7 + 0.6 x (10 - 7)
        "turnaround_days_p90_n": 5,
        "turnaround_within_14_pct": 100.0,
        "turnaround_within_14_pct_n": 5,
        "failed_pct": 20.0,
        "failed_pct_n": 5,
        "result_to_alert_minutes_median": None,
        "result_to_alert_minutes_median_n": 1,
        "esr1_detected": 1,
        "detected_before_progression": 1,
        "detected_before_progression_pct": None,
        "detected_before_progression_pct_n": 1,
        "detection_to_decision_days_median": None,
        "detection_to_decision_days_median_n": 1,
        "switched": 0,
        "decision_to_switch_days_median": None,
        "decision_to_switch_days_median_n": 0,
        "decisions": {**NO_DECISIONS, "deferred": 1},
    }
    # South: P4, P5, P8, P12 monitored (not P9). Draws due P4, P8; results P4, P5, P8, P12.
    assert south["monitored"] == 4
    assert (south["draws_due"], south["draws_on_time_pct"], south["draws_on_time_pct_n"]) == (
        2, None, 2,
    )  # fmt: skip
    assert (south["turnaround_days_median"], south["turnaround_days_median_n"]) == (None, 4)
    assert (south["esr1_detected"], south["detected_before_progression"]) == (2, 1)
    assert south["switched"] == 1
    assert south["decisions"] == {**NO_DECISIONS, "switched": 1, "dismissed": 1}


def test_a_narrower_period_counts_only_what_falls_in_it(clinic):
    # Month B alone, given as a period: the same as B's row of the longer period.
    m = programme_metrics(start=B, end=C - timedelta(days=1))
    assert [row["month"] for row in m["by_month"]] == [f"{B:%Y-%m}"]
    assert figures(m) == figures(m["by_month"][0])
    assert m["monitored"] == 8 and m["draws_due"] == 2 and m["turnaround_days_median_n"] == 4
    # Tested in B: P5, P6, P8, P12; detected P5, P6; nobody switched in B.
    assert m["funnel"] == {"monitored": 8, "tested": 4, "esr1_detected": 2, "switched": 0}

    # Days 5 to 12 of month A: draws due P3 (a6, late) and P4 (a10), not P1 (a3) or P2 (a4);
    # results P7 (a9) and P1 (a12), not P3 (a23) or P2 (a28).
    m = programme_metrics(start=a(5), end=a(12))
    assert m["draws_due"] == 2 and m["draws_on_time_pct_n"] == 2
    assert m["failed_pct_n"] == 2
    assert m["esr1_detected"] == 0 and m["decisions"] == NO_DECISIONS


def test_a_share_or_median_needs_five_cases(clinic):
    m = programme_metrics(start=A, end=TODAY)
    # Five cases in A: shown; four in B: withheld, with the count.
    assert month(m, A)["failed_pct"] == 20.0 and month(m, A)["failed_pct_n"] == 5
    assert month(m, B)["failed_pct"] is None and month(m, B)["failed_pct_n"] == 4
    # Counts are numbers even where nothing happened.
    empty = programme_metrics(start=TODAY - timedelta(days=3000), end=A - timedelta(days=300))
    assert empty["monitored"] == 0 and empty["draws_due"] == 0 and empty["switched"] == 0
    assert empty["turnaround_days_median"] is None and empty["turnaround_days_median_n"] == 0
    assert empty["funnel"] == {"monitored": 0, "tested": 0, "esr1_detected": 0, "switched": 0}


def test_a_patient_on_two_regimens_in_one_month_counts_once_in_it():
    onc = oncologist("dr.twice", "Tom", "Twice")
    # The CDK4/6 inhibitor changed on b10: two surveillance treatments, both in month B.
    changed, _ = patient_on_surveillance(onc, end=b(10), end_reason="toxicity")
    TreatmentFactory(patient=changed, start_date=b(10), cdk46_inhibitor_id="ribociclib")
    # Off surveillance (tamoxifen) from a5 to a20, back on an aromatase inhibitor after.
    paused, _ = patient_on_surveillance(onc, end=a(5), end_reason="toxicity")
    TreatmentFactory(patient=paused, start_date=a(5), end_date=a(20), end_reason="toxicity",
                     endocrine_therapy_id="tamoxifen", cdk46_inhibitor_id=None)  # fmt: skip
    TreatmentFactory(patient=paused, start_date=a(20), cdk46_inhibitor_id="abemaciclib")
    m = programme_metrics(start=A, end=TODAY)
    assert [row["monitored"] for row in m["by_month"]] == [2, 2, 2]
    assert m["monitored"] == 2
    assert oncologist_row(m, "dr.twice")["monitored"] == 2


def test_a_planned_draw_still_in_its_grace_period_is_due_but_not_yet_late():
    onc = oncologist("dr.east", "Eve", "East")
    patient, _ = patient_on_surveillance(onc)
    planned(patient, due=TODAY - timedelta(days=3))
    m = programme_metrics(start=TODAY - timedelta(days=30), end=TODAY)
    # Due, but it may still be collected on time: not in the on-time share yet.
    assert m["draws_due"] == 1 and m["draws_on_time_pct_n"] == 0
    # A planned draw due after today is not due yet, even in a period reaching past today.
    later = programme_metrics(start=TODAY - timedelta(days=30), end=TODAY + timedelta(days=60))
    assert later["draws_due"] == 1


def esr1_case(onc, n: int, *, raised, minutes: float, kind="esr1_switch", decided=None,
              decision="", switch_on=None, treatment=None):  # fmt: skip
    """A patient (or `treatment`) with an ESR1-positive result saved `minutes` before its
    alert."""
    if treatment is None:
        _, treatment = patient_on_surveillance(onc, mrn=f"ESR-{n}")
    if kind == "esr1_at_progression":
        progression(treatment.patient, on=raised.date() - timedelta(days=10))
    day = raised.date()
    _, result = collected(
        treatment.patient, on=day - timedelta(days=8), reported=day, detected=True,
        saved_at=raised - timedelta(minutes=minutes),
    )  # fmt: skip
    return esr1_alert(treatment, result, kind=kind, raised=raised, decided=decided,
                      decision=decision, switch_on=switch_on, by=onc)  # fmt: skip


def test_esr1_figures_with_enough_cases_and_detections_counted_once_per_episode():
    onc = oncologist("dr.west", "Wes", "West")
    # Raised in B, minutes from result to alert; days to decision; days to the switch.
    esr1_case(onc, 1, raised=at(b(1), 10), minutes=1, decided=at(b(4)), decision="switched",
              switch_on=b(10))  # 3 days; 6 days  # fmt: skip
    esr1_case(onc, 2, raised=at(b(2), 10), minutes=2, decided=at(b(3)), decision="switched",
              switch_on=b(5))  # 1; 2  # fmt: skip
    third = esr1_case(onc, 3, raised=at(b(3), 10), minutes=3, decided=at(b(8)),
                      decision="switched", switch_on=b(9))  # 5; 1  # fmt: skip
    # A later positive result merged into that alert's evidence was saved after the alert:
    # the alert's time is still measured from the result that raised it.
    _, later = collected(third.patient, on=b(5), reported=b(7), detected=True,
                         saved_at=at(b(7), 9))  # fmt: skip
    Alert.objects.filter(pk=third.pk).update(result_ids=[*third.result_ids, later.id])
    esr1_case(onc, 4, raised=at(b(4), 10), minutes=4, decided=at(b(6)), decision="switched",
              switch_on=b(14))  # 2; 8  # fmt: skip
    esr1_case(onc, 5, raised=at(b(5), 10), minutes=10, decided=at(b(12)), decision="switched",
              switch_on=b(12))  # 7; 0  # fmt: skip
    esr1_case(onc, 6, raised=at(b(6), 10), minutes=0.5, kind="esr1_at_progression",
              decided=at(b(7)), decision="repeat_test")  # 1  # fmt: skip
    # Patient 7: detected in A (deferred a12, 2 days), seen again in B on the same
    # treatment: one detection (in A); both alerts count for result-to-alert (12 and 6 min).
    first = esr1_case(onc, 7, raised=at(a(10), 10), minutes=12, decided=at(a(12)),
                      decision="deferred")  # fmt: skip
    treatment7 = first.patient.treatments.get()
    esr1_case(onc, 7, raised=at(b(20), 10), minutes=6, treatment=treatment7)
    # Patient 8: an alert long before the period on an earlier regimen (decided then), and
    # one in B on the next first-line regimen (a CDK4/6 inhibitor changed): a new episode.
    p8, old = patient_on_surveillance(
        onc, mrn="ESR-8", start=A - timedelta(days=400), end=A - timedelta(days=20),
        end_reason="toxicity",
    )  # fmt: skip
    esr1_case(onc, 8, raised=at(A - timedelta(days=30)), minutes=1, treatment=old,
              decided=at(A - timedelta(days=25)), decision="dismissed")  # fmt: skip
    new = type(old).objects.create(
        patient=p8, line_number=1, setting="metastatic", endocrine_therapy_id="letrozole",
        cdk46_inhibitor_id="ribociclib", start_date=A - timedelta(days=20),
    )  # fmt: skip
    esr1_case(onc, 8, raised=at(b(21), 10), minutes=7, treatment=new)

    in_b = programme_metrics(start=B, end=C - timedelta(days=1))
    # Detections in B: patients 1-6 and 8 (patient 7's second alert is not one); before
    # progression: all but patient 6.
    assert in_b["esr1_detected"] == 7
    assert in_b["detected_before_progression_pct"] == 85.7  # 6 / 7
    # Minutes: 1 2 3 4 10 0.5 6 7 -> 0.5 1 2 3 4 6 7 10: median (3 + 4) / 2.
    assert in_b["result_to_alert_minutes_median"] == 3.5
    assert in_b["result_to_alert_minutes_median_n"] == 8
    # Days to decision 3 1 5 2 7 1 -> 1 1 2 3 5 7: (2 + 3) / 2.
    assert in_b["detection_to_decision_days_median"] == 2.5
    assert in_b["detection_to_decision_days_median_n"] == 6
    # Decision to switch 6 2 1 8 0 -> 0 1 2 6 8.
    assert in_b["decision_to_switch_days_median"] == 2.0
    assert in_b["decision_to_switch_days_median_n"] == 5
    assert in_b["switched"] == 5
    assert in_b["decisions"] == {"switched": 5, "repeat_test": 1, "deferred": 0, "dismissed": 0}

    whole = programme_metrics(start=A, end=TODAY)
    # Patient 7's detection in A joins: 8, of which 7 before progression.
    assert whole["esr1_detected"] == 8
    assert whole["detected_before_progression_pct"] == 87.5
    # Minutes 0.5 1 2 3 4 6 7 10 12: the 5th.
    assert whole["result_to_alert_minutes_median"] == 4.0
    # Days to decision with patient 7's 2: 1 1 2 2 3 5 7.
    assert whole["detection_to_decision_days_median"] == 2.0
    assert whole["decisions"] == {"switched": 5, "repeat_test": 1, "deferred": 1, "dismissed": 0}
    assert month(whole, A)["esr1_detected"] == 1 and month(whole, B)["esr1_detected"] == 7


def test_alert_days_fall_in_the_clinic_time_zone(settings):
    settings.TIME_ZONE = "Pacific/Auckland"
    onc = oncologist("dr.kiwi", "Kiri", "Kiwi")
    # 23:30 on the last day of B in UTC is already the 1st of C in Auckland (UTC+12/+13).
    last_of_b = C - timedelta(days=1)
    raised = datetime.combine(last_of_b, time(23, 30), tzinfo=ZoneInfo("UTC"))
    esr1_case(onc, 1, raised=raised, minutes=1)
    m = programme_metrics(start=B, end=TODAY)
    assert month(m, B)["esr1_detected"] == 0
    assert month(m, C)["esr1_detected"] == 1


def test_query_count_does_not_grow_with_patients_or_months(clinic, django_assert_max_num_queries):
    # JIT off for a transaction (a savepoint and its release inside the test's transaction);
    # the patients statement (with the funnel), the events statement; the oncologists' names.
    with django_assert_max_num_queries(6):
        selectors.programme_metrics(start=A, end=TODAY)
    with CaptureQueriesContext(connection) as small:
        selectors.programme_metrics(start=B, end=B + timedelta(days=5))
    build_clinic_again()
    programme_facts.rebuild()
    with CaptureQueriesContext(connection) as large:
        selectors.programme_metrics(start=TODAY - timedelta(days=3 * 365), end=TODAY)
    assert len(large) == len(small) == 6


def build_clinic_again():
    """Twelve more patients with their draws, results and alerts, under other oncologists."""
    from tests.programme import cohort

    for n in range(3):
        cohort.oncologist(f"dr.extra{n}", "Extra", f"Doctor{n}")
    onc = cohort.oncologist("dr.more", "More", "Patients")
    for n in range(12):
        patient, treatment = patient_on_surveillance(onc, mrn=f"MORE-{n}")
        _, result = collected(patient, due=a(3), on=a(4), reported=a(9), detected=n % 3 == 0)
        if n % 3 == 0:
            esr1_alert(treatment, result, raised=at(a(9)), decided=at(b(2)), decision="deferred",
                       by=onc)  # fmt: skip


def test_default_period_is_the_last_twelve_calendar_months():
    assert default_start(date(2026, 12, 31)) == date(2026, 1, 1)
    assert default_start(date(2028, 2, 29)) == date(2027, 3, 1)
    assert default_start(date(2026, 1, 15)) == date(2025, 2, 1)
    assert default_start(date(1, 5, 1)) == date.min
    months = list(calendar_months(default_start(TODAY), TODAY))
    assert len(months) == 12
    assert months[-1] == (C, C, TODAY)


def test_calendar_months_are_clipped_to_the_period_and_reach_the_last_day():
    assert list(calendar_months(date(2028, 1, 15), date(2028, 3, 2))) == [
        (date(2028, 1, 1), date(2028, 1, 15), date(2028, 1, 31)),
        (date(2028, 2, 1), date(2028, 2, 1), date(2028, 2, 29)),
        (date(2028, 3, 1), date(2028, 3, 1), date(2028, 3, 2)),
    ]
    assert list(calendar_months(date(9999, 12, 30), date.max)) == [
        (date(9999, 12, 1), date(9999, 12, 30), date.max)
    ]

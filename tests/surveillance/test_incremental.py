"""The incremental nightly run (SPEC section 6, `run_surveillance [--full]`): between full runs
it evaluates only the patients whose verdict may have changed, and a full run of the same day
straight after it changes nothing. The day-by-day proof over a cohort is
test_incremental_simulation.py."""

from io import StringIO

import pytest
from django.core.management import call_command

from patients.outbox import patient_changed
from surveillance import engine, tasks
from surveillance.models import Alert, Draw, SurveillancePolicy, SurveillanceState
from tests.factories import TODAY, AppointmentFactory, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_weekly_full_run(settings):
    settings.SURVEILLANCE_FULL_RUN_WEEKDAY = None


def overdue_patient():
    """First draw was due at day -44: draw_overdue. On day 82 she reaches 182 days on
    treatment, which makes her high risk."""
    patient = PatientFactory()
    TreatmentFactory(patient=patient, start_date=days(-100))
    return patient


def quiet_patient():
    """Started 10 days ago: first draw due at day 46, nothing to say before day 39."""
    patient = PatientFactory(enrolled_on=days(-10))
    TreatmentFactory(patient=patient, start_date=days(-10))
    return patient


def open_kinds(patient) -> set[str]:
    return set(Alert.objects.filter(patient=patient, status="open").values_list("kind", flat=True))


def test_next_run_evaluates_only_the_patients_whose_day_has_come():
    overdue, quiet = overdue_patient(), quiet_patient()
    first = engine.run_nightly(today=TODAY)
    assert (first.plan.kind, first.plan.reason) == ("full", "no full run yet")
    state = SurveillanceState.objects.get(patient=quiet)
    assert state.next_change == days(39)  # the draw_due window opens 7 days before day 46
    assert SurveillanceState.objects.get(patient=overdue).next_change == days(82)

    second = engine.run_nightly(today=days(1))
    assert second.plan.kind == "incremental"
    assert second.stats.evaluated == 0
    # Totals as a full run counts them, not just the evaluated patients'.
    assert (second.stats.eligible, second.stats.planned) == (2, 2)
    # The alert names the due date rather than counting days, so it stands as it is.
    assert Alert.objects.get(patient=overdue, kind="draw_overdue").title == (
        f"ctDNA draw overdue (due {days(-44).isoformat()})"
    )

    assert engine.run_nightly(today=days(38)).stats.evaluated == 0
    assert open_kinds(quiet) == set()
    day_39 = engine.run_nightly(today=days(39))
    assert day_39.stats.evaluated == 1
    assert open_kinds(quiet) == {"draw_due"}
    assert SurveillanceState.objects.get(patient=quiet).next_change == days(61)  # overdue

    full = engine.run_nightly(today=days(39), full=True)
    assert full.plan.kind == "full"
    assert (full.stats.evaluated, full.stats.opened, full.stats.resolved, full.stats.updated) == (
        2, 0, 0, 0,
    )  # fmt: skip
    assert engine.run_nightly(today=days(60)).stats.evaluated == 0
    day_61 = engine.run_nightly(today=days(61))
    assert (day_61.stats.evaluated, day_61.stats.opened, day_61.stats.resolved) == (1, 1, 1)
    assert open_kinds(quiet) == {"draw_overdue"}
    assert SurveillanceState.objects.get(patient=overdue).risk_level == "standard"
    assert engine.run_nightly(today=days(82)).stats.evaluated == 1
    assert SurveillanceState.objects.get(patient=overdue).risk_level == "high"


def test_a_changed_record_is_evaluated_by_the_next_incremental_run():
    quiet = quiet_patient()
    engine.run_nightly(today=TODAY)
    # An appointment 3 days after the due date: the draw moves to it. The change marks the
    # patient (its on-commit message never leaves this test's transaction).
    AppointmentFactory(patient=quiet, date=days(49))
    patient_changed(quiet.id)
    assert engine.patients_to_evaluate(days(1), False) == [quiet.id]
    run = engine.run_nightly(today=days(1))
    assert (run.plan.kind, run.stats.evaluated) == ("incremental", 1)
    assert Draw.objects.get(patient=quiet, status="planned").due_date == days(49)
    assert SurveillanceState.objects.get(patient=quiet).next_change == days(42)
    assert engine.patients_to_evaluate(days(2), False) == []


def test_only_the_appointment_the_draw_sits_on_brings_the_next_change_forward():
    """Due day 46. The draw moves to the appointment on day 48; the one on day 34 is within
    the alignment window too but farther, so its passing changes nothing: the next change is
    the due window opening on day 41, not day 35."""
    quiet = quiet_patient()
    AppointmentFactory(patient=quiet, date=days(48))
    AppointmentFactory(patient=quiet, date=days(34))
    engine.run_nightly(today=TODAY)
    state = SurveillanceState.objects.get(patient=quiet)
    assert (state.next_draw_due, state.next_change) == (days(48), days(41))

    assert engine.run_nightly(today=days(35)).stats.evaluated == 0
    full = engine.run_nightly(today=days(35), full=True)
    assert (full.stats.opened, full.stats.resolved, full.stats.updated) == (0, 0, 0)
    state.refresh_from_db()
    assert (state.next_draw_due, state.next_change) == (days(48), days(41))


def test_a_patient_without_a_verdict_is_evaluated_by_the_next_incremental_run():
    engine.run_nightly(today=TODAY)
    newcomer = overdue_patient()  # written without a mark, like a bulk load
    assert engine.patients_to_evaluate(TODAY, False) == [newcomer.id]
    run = engine.run_nightly(today=TODAY)
    assert (run.stats.evaluated, run.stats.opened, run.patients) == (1, 1, 1)
    assert engine.patients_to_evaluate(TODAY, False) == []
    # A verdict row never made (evaluated_at empty) counts as none.
    SurveillanceState.objects.filter(patient=newcomer).update(evaluated_at=None)
    assert engine.patients_to_evaluate(TODAY, False) == [newcomer.id]


def test_a_policy_change_makes_the_next_run_full():
    overdue_patient(), quiet_patient()
    engine.run_nightly(today=TODAY)
    SurveillancePolicy.objects.create(version=2, draw_due_lookahead_days=60, note="earlier")
    run = engine.run_nightly(today=days(1))
    assert (run.plan.kind, run.plan.reason) == ("full", "policy changed from v1 to v2")
    assert run.stats.evaluated == 2
    assert run.stats.opened == 1  # the quiet patient's draw is now within 60 days
    assert engine.run_nightly(today=days(2)).plan.kind == "incremental"


def test_the_weekly_day_and_an_earlier_date_make_a_full_run(settings):
    overdue_patient(), quiet_patient()
    settings.SURVEILLANCE_FULL_RUN_WEEKDAY = days(3).weekday()
    engine.run_nightly(today=TODAY)
    assert engine.run_nightly(today=days(1)).plan.kind == "incremental"
    assert engine.run_nightly(today=days(3)).plan.reason == "weekly"
    assert engine.run_nightly(today=days(2)).plan.reason == (
        f"date before the last run's ({days(3).isoformat()})"
    )
    # The weekly day missed: the first run a week after the last full one is full.
    assert engine.run_nightly(today=days(8)).plan.kind == "incremental"
    assert engine.run_nightly(today=days(9)).plan.reason == (
        f"weekly (last full run {days(2).isoformat()})"
    )


def test_run_surveillance_says_which_kind_of_run_it_was():
    overdue_patient(), quiet_patient()

    def run(*args):
        out = StringIO()
        call_command("run_surveillance", *args, stdout=out)
        return out.getvalue().splitlines()

    as_of = ["--as-of", days(1).isoformat()]
    assert run("--as-of", TODAY.isoformat())[0] == (
        f"full run for {TODAY.isoformat()} (no full run yet): 2 of 2 patients"
    )
    lines = run(*as_of)
    assert lines == [
        f"incremental run for {days(1).isoformat()} (next change due or record changed):"
        " 0 of 2 patients",
        "evaluated 0 patients",
        "eligible 2, planned 2, opened 0, resolved 0",
    ]
    lines = run(*as_of, "--full")
    assert lines[0] == f"full run for {days(1).isoformat()} (requested): 2 of 2 patients"
    assert lines[-1] == "eligible 2, planned 2, opened 0, resolved 0"


def test_the_morning_beat_job_is_the_nightly_run(settings):
    assert settings.CELERY_BEAT_SCHEDULE["surveillance-daily"]["task"] == "surveillance.run_nightly"
    overdue_patient()
    # Called in-process, as the worker calls it: the first run is full, the next incremental.
    assert tasks.run_nightly()["kind"] == "full"
    second = tasks.run_nightly()
    assert (second["kind"], second["evaluated"], second["eligible"]) == ("incremental", 0, 1)

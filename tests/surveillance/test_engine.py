"""The engine against the real database: reconciliation of planned draws, alerts and state."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pghistory import core as pghistory_core

from patients.models import PendingEvaluation, Treatment
from surveillance import engine
from surveillance.models import Alert, Draw, SurveillanceState
from surveillance.services import alert_resolve
from tests.factories import (
    TODAY,
    AppointmentFactory,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db


def run(today=TODAY):
    return engine.run_all(today=today)


def esr1_result(patient, *, collected, reported, short="D538G", canonical="p.Asp538Gly", vaf="0.4"):
    draw = DrawFactory(patient=patient, status="resulted", collected_on=collected)
    result = ResultFactory(draw=draw, reported_on=reported, esr1_status="detected")
    VariantFactory(result=result, short=short, protein_change=canonical, vaf_percent=Decimal(vaf))
    return result


@pytest.fixture
def on_treatment():
    patient = PatientFactory(enrolled_on=days(-100))
    treatment = TreatmentFactory(patient=patient, start_date=days(-40))
    return patient, treatment


def test_fresh_patient_gets_one_planned_draw_at_start_plus_56(on_treatment):
    patient, treatment = on_treatment
    stats = run()
    assert (stats.eligible, stats.planned) == (1, 1)
    planned = Draw.objects.get(patient=patient, status="planned")
    assert planned.due_date == treatment.start_date + timedelta(days=56)
    state = SurveillanceState.objects.get(patient=patient)
    assert state.eligible and state.next_draw_due == planned.due_date
    assert state.risk_level == "standard"


def test_rerunning_changes_nothing(on_treatment):
    patient, _ = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    first = run()
    second = run()
    assert first.opened == 1
    assert (second.opened, second.resolved, second.updated) == (0, 0, 0)
    assert Draw.objects.filter(patient=patient, status="planned").count() == 1
    assert Alert.objects.filter(patient=patient).count() == 1


def test_planned_draw_moves_in_place_to_an_appointment(on_treatment):
    patient, treatment = on_treatment
    run()
    draw_id = Draw.objects.get(patient=patient, status="planned").id
    appointment = AppointmentFactory(
        patient=patient, date=treatment.start_date + timedelta(days=60)
    )
    run()
    planned = Draw.objects.get(patient=patient, status="planned")
    assert planned.id == draw_id
    assert planned.due_date == appointment.date


def test_esr1_result_opens_one_switch_alert_that_grows_with_later_results(on_treatment):
    patient, _ = on_treatment
    first = esr1_result(patient, collected=days(-30), reported=days(-25))
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch", status="open")
    assert alert.severity == "high"
    assert "D538G" in alert.title and "0.4%" in alert.title
    assert "SERD" in alert.rationale and "camizestrant" in alert.rationale
    assert alert.result_ids == [first.id]

    second = esr1_result(
        patient, collected=days(-5), reported=days(-1), short="Y537S", canonical="p.Tyr537Ser",
        vaf="1.2",
    )  # fmt: skip
    run()
    alerts = Alert.objects.filter(patient=patient, kind="esr1_switch")
    assert alerts.count() == 1
    alert = alerts.get()
    assert alert.result_ids == sorted([first.id, second.id])
    assert "Y537S" in alert.title


def test_progression_makes_patient_ineligible_cancels_draw_and_raises_at_progression(on_treatment):
    patient, _ = on_treatment
    run()
    AssessmentFactory(patient=patient, date=days(-8), response="PD")
    esr1_result(patient, collected=days(-5), reported=days(-2))
    run()
    state = SurveillanceState.objects.get(patient=patient)
    assert not state.eligible
    assert state.reason == f"progression documented {days(-8).isoformat()}"
    assert not Draw.objects.filter(patient=patient, status="planned").exists()
    assert Draw.objects.filter(patient=patient, status="cancelled").count() == 1
    kinds = set(Alert.objects.filter(patient=patient, status="open").values_list("kind", flat=True))
    assert kinds == {"esr1_at_progression"}


def test_switch_alert_raised_before_progression_stays_open_after_it(on_treatment):
    patient, _ = on_treatment
    esr1_result(patient, collected=days(-20), reported=days(-15))
    run()
    AssessmentFactory(patient=patient, date=days(-1), response="PD")
    run()
    open_kinds = list(
        Alert.objects.filter(patient=patient, status="open").values_list("kind", flat=True)
    )
    assert open_kinds == ["esr1_switch"]


def test_logistics_alerts_open_and_clear_themselves(on_treatment):
    patient, treatment = on_treatment
    # Due at start + 56 = day 16; on day 40 it is 24 days overdue.
    run(today=days(40))
    alert = Alert.objects.get(patient=patient, status="open")
    assert alert.kind == "draw_overdue" and alert.severity == "medium"
    DrawFactory(patient=patient, status="collected", collected_on=days(39))
    stats = run(today=days(40))
    alert.refresh_from_db()
    assert (alert.status, alert.decision) == ("resolved", "auto")
    assert stats.resolved == 1


def test_switched_decision_ends_ai_starts_serd_and_ends_surveillance(on_treatment, oncologist):
    patient, treatment = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    AssessmentFactory(patient=patient, date=days(-7), response="SD")  # no progression
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    alert_resolve(
        actor=oncologist, alert=alert, evidence_version=alert.evidence_version,
        decision="switched", switch_date=TODAY,
        new_endocrine_therapy="camizestrant",
    )  # fmt: skip
    treatment.refresh_from_db()
    assert (treatment.end_date, treatment.end_reason) == (TODAY, "esr1_switch")
    new = Treatment.objects.get(patient=patient, start_date=TODAY)
    assert new.endocrine_therapy_id == "camizestrant"
    assert new.cdk46_inhibitor_id == treatment.cdk46_inhibitor_id
    assert new.line_number == 1
    run()
    state = SurveillanceState.objects.get(patient=patient)
    assert not state.eligible and state.reason == "on a SERD"
    assert not Draw.objects.filter(patient=patient, status="planned").exists()
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == oncologist


def test_repeat_test_pins_the_planned_draw_date(on_treatment, oncologist):
    patient, _ = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    alert_resolve(
        actor=oncologist,
        alert=alert,
        evidence_version=alert.evidence_version,
        decision="repeat_test",
        date=days(9),
    )
    AppointmentFactory(patient=patient, date=days(12))
    run()
    planned = Draw.objects.get(patient=patient, status="planned")
    assert (planned.due_date, planned.pinned) == (days(9), True)
    assert not Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()


def test_a_decision_covers_its_results_and_a_new_positive_opens_a_new_alert(
    on_treatment, oncologist
):
    patient, _ = on_treatment
    esr1_result(patient, collected=days(-30), reported=days(-25))
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    alert_resolve(
        actor=oncologist,
        alert=alert,
        evidence_version=alert.evidence_version,
        decision="deferred",
        note="Scan booked first",
    )
    run()
    assert not Alert.objects.filter(patient=patient, status="open", kind="esr1_switch").exists()
    newer = esr1_result(patient, collected=days(-4), reported=days(-1), vaf="2.5")
    run()
    fresh = Alert.objects.get(patient=patient, kind="esr1_switch", status="open")
    assert fresh.id != alert.id and fresh.result_ids == [newer.id]


def test_deferring_without_a_note_is_refused_and_changes_nothing(on_treatment, oncologist):
    patient, _ = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    with pytest.raises(ValidationError) as exc:
        alert_resolve(
            actor=oncologist,
            alert=alert,
            evidence_version=alert.evidence_version,
            decision="deferred",
            note="  ",
        )
    assert "note" in exc.value.message_dict
    alert.refresh_from_db()
    assert alert.status == "open"


def test_nurse_may_not_decide_an_esr1_alert(on_treatment, nurse):
    patient, _ = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    with pytest.raises(PermissionDenied):
        alert_resolve(
            actor=nurse,
            alert=alert,
            evidence_version=alert.evidence_version,
            decision="dismissed",
            note="no",
        )


def test_switch_to_a_non_serd_is_refused(on_treatment, oncologist):
    patient, treatment = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    with pytest.raises(ValidationError) as exc:
        alert_resolve(
            actor=oncologist, alert=alert, evidence_version=alert.evidence_version,
            decision="switched", switch_date=TODAY,
            new_endocrine_therapy="anastrozole",
        )  # fmt: skip
    assert "new_endocrine_therapy" in exc.value.message_dict
    treatment.refresh_from_db()
    assert treatment.end_date is None


def test_vus_result_raises_a_review_alert_not_a_switch(on_treatment):
    patient, _ = on_treatment
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-10))
    result = ResultFactory(draw=draw, reported_on=days(-4), esr1_status="not_detected")
    VariantFactory(
        result=result, short="L536F", protein_change="p.Leu536Phe", esr1_activating=False,
        esr1_vus=True,
    )  # fmt: skip
    run()
    alert = Alert.objects.get(patient=patient, status="open", kind="esr1_vus_review")
    assert alert.severity == "low" and alert.subject == f"result:{result.id}"
    assert not Alert.objects.filter(patient=patient, kind="esr1_switch").exists()


def test_activating_mutation_reported_without_a_vaf_opens_the_switch_alert(on_treatment):
    patient, _ = on_treatment
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-10))
    result = ResultFactory(draw=draw, reported_on=days(-4), esr1_status="detected")
    VariantFactory(result=result, short="D538G", protein_change="p.Asp538Gly", vaf_percent=None)
    run()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch", status="open")
    assert "D538G (VAF not reported)" in alert.title
    assert "%" not in alert.title
    (variant,) = [v for v in alert.evidence["variants"] if v["short"] == "D538G"]
    assert variant["vaf_percent"] is None


def test_esr1_change_kept_as_written_is_listed_for_review(on_treatment):
    patient, _ = on_treatment
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-10))
    result = ResultFactory(draw=draw, reported_on=days(-4), esr1_status="not_detected")
    VariantFactory(
        result=result, short="Leu536_Asp538delinsPro", protein_change="p.Leu536_Asp538delinsPro",
        vaf_percent=Decimal("0.9"), esr1_activating=False, esr1_vus=True,
    )  # fmt: skip
    run()
    alert = Alert.objects.get(patient=patient, status="open", kind="esr1_vus_review")
    assert "Leu536_Asp538delinsPro (0.9%)" in alert.title
    assert not Alert.objects.filter(patient=patient, kind="esr1_switch").exists()


def test_failed_result_asks_for_a_redraw_14_days_after_the_report(on_treatment):
    patient, _ = on_treatment
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-12))
    ResultFactory(draw=draw, reported_on=days(-5), status="failed", esr1_status="failed")
    run()
    assert Draw.objects.get(patient=patient, status="planned").due_date == days(9)
    assert Alert.objects.filter(patient=patient, status="open", kind="redraw_needed").exists()


def test_outbox_mark_is_answered_by_the_sweep(on_treatment):
    patient, _ = on_treatment
    PendingEvaluation.objects.create(patient=patient, marked_at=timezone.now())
    stats = engine.run_marked(today=TODAY)
    assert stats.evaluated == 1
    assert SurveillanceState.objects.get(patient=patient).eligible
    assert not PendingEvaluation.objects.filter(patient=patient).exists()
    assert engine.run_marked(today=TODAY).evaluated == 0


def test_any_run_that_evaluates_a_marked_patient_answers_the_mark(on_treatment):
    patient, _ = on_treatment
    other = PatientFactory()
    for marked in (patient, other):
        PendingEvaluation.objects.create(patient=marked, marked_at=timezone.now())
    engine.run_for_patients([patient.pk], today=TODAY)
    assert list(PendingEvaluation.objects.values_list("patient_id", flat=True)) == [other.pk]


def _cohort(n):
    for i in range(n):
        patient = PatientFactory(enrolled_on=days(-300))
        TreatmentFactory(patient=patient, start_date=days(-200))
        AssessmentFactory(patient=patient, date=days(-30))
        AppointmentFactory(patient=patient, date=days(20))
        if i % 2:
            esr1_result(patient, collected=days(-20), reported=days(-12))
        else:
            DrawFactory(patient=patient, collected_on=days(-25))


def _queries_for_run():
    with CaptureQueriesContext(connection) as ctx:
        run()
    return len(ctx.captured_queries)


def test_engine_query_count_does_not_grow_with_patients():
    _cohort(3)
    small = _queries_for_run()
    _cohort(30)
    Alert.objects.all().delete()
    large = _queries_for_run()
    assert large == small, (small, large)
    assert large <= 25


def _history(model, obj_id):
    (event_model,) = pghistory_core.event_models(tracks_model=model)
    return list(event_model.objects.filter(pgh_obj_id=obj_id).order_by("pgh_id"))


def _copied(event, row) -> dict:
    """The tracked columns of an event that differ from the row's current values."""
    names = [f.attname for f in type(event)._meta.concrete_fields if not f.name.startswith("pgh")]
    return {
        n: (getattr(event, n), getattr(row, n))
        for n in names
        if getattr(event, n) != getattr(row, n)
    }


def test_every_engine_change_is_in_the_history_with_the_engine_as_its_source(on_treatment):
    patient, treatment = on_treatment
    esr1_result(patient, collected=days(-10), reported=days(-3))
    run()
    planned = Draw.objects.get(patient=patient, status="planned")
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")

    (draw_insert,) = _history(Draw, planned.id)
    (alert_insert,) = _history(Alert, alert.id)
    for event, row in ((draw_insert, planned), (alert_insert, alert)):
        assert event.pgh_label == "insert"
        assert _copied(event, row) == {}, "the history row is not the stored row"
        assert event.pgh_context.metadata["source"] == "surveillance-engine"
    assert alert_insert.rationale == alert.rationale and alert_insert.evidence == alert.evidence

    # A move is an update event with the new date, in the same context as before.
    AppointmentFactory(patient=patient, date=planned.due_date + timedelta(days=3))
    run()
    planned.refresh_from_db()
    draw_insert, draw_update = _history(Draw, planned.id)
    assert draw_update.pgh_label == "update" and _copied(draw_update, planned) == {}
    assert draw_update.due_date == planned.due_date != draw_insert.due_date

    # The engine ran inside this test's transaction: writes after it are audited by the
    # triggers again (the engine put the trigger settings back).
    later = DrawFactory(patient=patient, status="collected", collected_on=days(-1))
    assert [e.pgh_label for e in _history(Draw, later.id)] == ["insert"]


def test_resolved_and_cancelled_rows_are_recorded_as_updates(on_treatment):
    patient, treatment = on_treatment
    run(today=TODAY)
    planned = Draw.objects.get(patient=patient, status="planned")
    due_alert = Alert.objects.filter(patient=patient, kind__in=["draw_due", "draw_overdue"])
    run(today=planned.due_date)  # the draw is due: a draw_due alert opens
    alert = due_alert.get(status="open")
    Treatment.objects.filter(id=treatment.id).update(end_date=days(0), end_reason="progression")
    run(today=planned.due_date)  # no longer eligible: draw cancelled, logistics alert resolved
    planned.refresh_from_db()
    alert.refresh_from_db()
    assert planned.status == "cancelled" and alert.status == "resolved"
    assert [e.pgh_label for e in _history(Draw, planned.id)] == ["insert", "update"]
    assert _history(Draw, planned.id)[-1].status == "cancelled"
    assert [e.pgh_label for e in _history(Alert, alert.id)] == ["insert", "update"]
    assert _history(Alert, alert.id)[-1].decision == "auto"


def test_an_unchanged_verdict_is_not_rewritten_and_a_changed_one_is(on_treatment):
    patient, treatment = on_treatment
    run()
    first = SurveillanceState.objects.get(patient=patient)
    PendingEvaluation.objects.create(patient=patient, marked_at=timezone.now())  # as the outbox

    run()  # same verdict: the row keeps its time, the mark it answered is cleared
    again = SurveillanceState.objects.get(patient=patient)
    assert again.evaluated_at == first.evaluated_at
    assert not PendingEvaluation.objects.filter(patient=patient).exists()

    AssessmentFactory(patient=patient, date=days(-1), response="PD")
    run()
    changed = SurveillanceState.objects.get(patient=patient)
    assert not changed.eligible and changed.reason.startswith("progression documented")
    assert changed.evaluated_at > first.evaluated_at

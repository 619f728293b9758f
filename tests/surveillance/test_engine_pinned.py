"""The engine never undoes a clinician (SPEC 5.6): a draw planned by a repeat-test decision
keeps its date, for every alert kind and whether or not the patient is still eligible, until
it is collected or the clinician changes it, and also when the decision commits while a run
is evaluating the patient."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from pghistory import core as pghistory_core

from surveillance import engine
from surveillance.models import Alert, Draw
from surveillance.services import alert_resolve, draw_record
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


def esr1_result(patient, *, collected, reported):
    draw = DrawFactory(patient=patient, status="resulted", collected_on=collected)
    result = ResultFactory(draw=draw, reported_on=reported, esr1_status="detected")
    VariantFactory(
        result=result, short="D538G", protein_change="p.Asp538Gly", vaf_percent=Decimal("1")
    )
    return result


def on_treatment():
    patient = PatientFactory(enrolled_on=days(-100))
    TreatmentFactory(patient=patient, start_date=days(-40))
    return patient


def engine_updates_of(draw) -> int:
    (event_model,) = pghistory_core.event_models(tracks_model=Draw)
    return event_model.objects.filter(
        pgh_obj_id=draw.id, pgh_label="update",
        pgh_context__metadata__source="surveillance-engine",
    ).count()  # fmt: skip


@pytest.mark.django_db
def test_a_repeat_test_on_an_at_progression_alert_survives_the_next_runs(oncologist):
    patient = on_treatment()
    AssessmentFactory(patient=patient, date=days(-8), response="PD")
    esr1_result(patient, collected=days(-5), reported=days(-2))
    engine.run_for_patients([patient.id], today=TODAY)
    alert = Alert.objects.get(patient=patient, kind="esr1_at_progression", status="open")

    alert_resolve(
        actor=oncologist,
        alert=alert,
        decision="repeat_test",
        date=days(14),
        evidence_version=alert.evidence_version,
    )
    repeat = Draw.objects.get(patient=patient, status="planned")
    assert repeat.pinned

    for _ in range(2):
        stats = engine.run_for_patients([patient.id], today=TODAY)
        assert (stats.eligible, stats.planned) == (0, 1)
    repeat.refresh_from_db()
    assert (repeat.status, repeat.due_date, repeat.pinned) == ("planned", days(14), True)
    assert engine_updates_of(repeat) == 0
    alert.refresh_from_db()
    assert alert.decision_details["repeat_draw_id"] == repeat.id  # names a draw still planned


@pytest.mark.django_db
def test_a_pinned_draw_outlives_eligibility_and_ends_with_its_collection(oncologist, nurse):
    patient = on_treatment()
    esr1_result(patient, collected=days(-10), reported=days(-3))
    engine.run_for_patients([patient.id], today=TODAY)
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    alert_resolve(
        actor=oncologist,
        alert=alert,
        decision="repeat_test",
        date=days(9),
        evidence_version=alert.evidence_version,
    )
    patient.status = "inactive"
    patient.save()

    engine.run_for_patients([patient.id], today=TODAY)
    repeat = Draw.objects.get(patient=patient, status="planned")
    assert (repeat.due_date, repeat.pinned) == (days(9), True)

    collected = draw_record(
        actor=nurse, patient=patient, collected_on=TODAY, assay="guardant360_cdx", accession="R-1"
    )
    assert collected.id == repeat.id and not collected.pinned
    engine.run_for_patients([patient.id], today=TODAY)
    assert not Draw.objects.filter(patient=patient, status="planned").exists()


# --- A decision committed while a run evaluates the patient ----------------------------------


def _decided_elsewhere(alert_id: int, oncologist, outcome: dict) -> None:
    """The oncologist's repeat-test decision, committed on another connection."""
    try:
        alert = Alert.objects.get(pk=alert_id)
        alert_resolve(
            actor=oncologist,
            alert=alert,
            decision="repeat_test",
            date=days(20),
            evidence_version=alert.evidence_version,
        )
    except BaseException as exc:  # reported by the test
        outcome["error"] = exc
    finally:
        connection.close()


def _moving(patient):
    """An appointment near the planned draw: the run wants to move the draw to it."""
    planned = Draw.objects.get(patient=patient, status="planned")
    AppointmentFactory(patient=patient, date=planned.due_date + timedelta(days=5))


def _cancelling(patient):
    """Progression: the run wants to cancel the planned draw."""
    AssessmentFactory(patient=patient, date=days(-1), response="PD")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", [_moving, _cancelling], ids=["move", "cancel"])
def test_a_decision_committed_while_a_run_evaluates_the_patient_keeps_its_date(
    monkeypatch, oncologist, change
):
    patient = on_treatment()
    esr1_result(patient, collected=days(-10), reported=days(-3))
    engine.run_for_patients([patient.id], today=TODAY)
    alert = Alert.objects.get(patient=patient, kind="esr1_switch", status="open")
    draw = Draw.objects.get(patient=patient, status="planned")
    assert not draw.pinned
    change(patient)
    load = engine.load_batch
    outcome: dict = {}

    def load_then_decide_elsewhere(ids, **kwargs):
        loaded = load(ids, **kwargs)  # the run has read the draw unpinned
        decision = threading.Thread(target=_decided_elsewhere, args=(alert.id, oncologist, outcome))
        decision.start()
        decision.join(30)
        assert not decision.is_alive(), "the decision waited for the run"
        return loaded

    monkeypatch.setattr(engine, "load_batch", load_then_decide_elsewhere)
    engine.run_for_patients([patient.id], today=TODAY)
    monkeypatch.undo()
    assert "error" not in outcome, repr(outcome.get("error"))

    draw.refresh_from_db()
    assert (draw.status, draw.due_date, draw.pinned) == ("planned", days(20), True)
    # The decision's mark re-evaluates the patient, and the date still stands.
    engine.run_marked(today=TODAY)
    draw.refresh_from_db()
    assert (draw.status, draw.due_date, draw.pinned) == ("planned", days(20), True)

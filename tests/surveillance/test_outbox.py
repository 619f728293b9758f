"""A change is never lost: when the broker is down the write still commits with its
re-evaluation mark, and the minute sweep raises the alert once it runs."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from config.celery import app
from patients import outbox
from patients.models import PendingEvaluation
from surveillance import engine, tasks
from surveillance.models import Alert, SurveillanceState
from tests.factories import (
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    TreatmentFactory,
    days,
)


def _point_redis_at(broker: str, backend: str) -> None:
    # Drop every cached connection, producer and result backend so the next call dials anew.
    app.close()
    app.conf.broker_url = broker
    app.conf.result_backend = backend
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def broker_down():
    """Broker and result backend of this process point at a closed port: Redis is down."""
    saved = app.conf.broker_url, app.conf.result_backend
    _point_redis_at("redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0")
    try:
        yield
    finally:
        _point_redis_at(*saved)


@pytest.mark.django_db(transaction=True)
def test_result_saved_while_redis_is_down_is_evaluated_by_the_sweep(broker_down, nurse):
    patient = PatientFactory(enrolled_on=days(-200))
    TreatmentFactory(patient=patient, start_date=days(-90))
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-6))
    client = APIClient()
    client.force_authenticate(nurse)
    started = time.monotonic()
    response = client.post(
        "/api/v1/results/",
        {
            "draw": draw.id,
            "reported_on": days(-1).isoformat(),
            "status": "final",
            "variants": [{"gene": "ESR1", "protein_change": "Y537S", "vaf_percent": "3"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 5, "a down broker must not stall the request"
    assert PendingEvaluation.objects.filter(patient=patient).exists()
    assert not Alert.objects.filter(patient=patient).exists()

    stats = engine.run_marked()
    assert stats.evaluated == 1
    assert Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()
    assert not PendingEvaluation.objects.filter(patient=patient).exists()


def test_the_outbox_sends_the_task_surveillance_registers():
    # patients cannot import surveillance, so the outbox names the task; this keeps the two
    # names from drifting apart.
    assert tasks.evaluate_patient.name == outbox.EVALUATE_PATIENT_TASK
    assert outbox.EVALUATE_PATIENT_TASK in app.tasks


def _progression_committed_elsewhere(patient_id: int) -> None:
    """A clinician's change to the patient, committed on another connection."""
    try:
        with transaction.atomic():
            AssessmentFactory(patient_id=patient_id, date=days(-1), response="PD")
            outbox.patient_changed(patient_id)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_while_a_run_evaluates_the_patient_keeps_its_mark(monkeypatch):
    patient = PatientFactory(enrolled_on=days(-200))
    TreatmentFactory(patient=patient, start_date=days(-90))
    outbox.patient_changed(patient.pk)
    load = engine.load_batch

    def load_then_change_elsewhere(ids, **kwargs):
        loaded = load(ids, **kwargs)  # the run has read its inputs: it cannot see what follows
        change = threading.Thread(target=_progression_committed_elsewhere, args=(patient.pk,))
        change.start()
        change.join()
        return loaded

    monkeypatch.setattr(engine, "load_batch", load_then_change_elsewhere)
    assert engine.run_marked().evaluated == 1
    monkeypatch.undo()

    # Evaluated without the progression, so the mark that stands for it stays.
    assert SurveillanceState.objects.get(patient=patient).eligible
    assert PendingEvaluation.objects.filter(patient=patient).exists()

    assert engine.run_marked().evaluated == 1
    state = SurveillanceState.objects.get(patient=patient)
    assert not state.eligible and state.reason.startswith("progression documented")
    assert not PendingEvaluation.objects.filter(patient=patient).exists()


# --- One evaluation for a burst of changes ---------------------------------------------------


@pytest.mark.django_db
def test_a_transaction_that_changes_a_patient_twice_sends_one_evaluation(
    nurse, django_capture_on_commit_callbacks
):
    """An import records a draw and then its result: one evaluation covers both."""
    from surveillance.services import draw_record, result_record

    patient = PatientFactory(enrolled_on=days(-200))
    other = PatientFactory(enrolled_on=days(-200))
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        draw = draw_record(
            actor=nurse, patient=patient, collected_on=days(-3), assay="guardant360_cdx"
        )
        result_record(actor=nurse, draw=draw, reported_on=days(-1), status="final")
        outbox.patient_changed(other.pk)
    assert sorted(callback.patient_id for callback in callbacks) == sorted([patient.pk, other.pk])


@pytest.mark.django_db
def test_a_change_undone_with_its_savepoint_does_not_hide_the_next_one(
    django_capture_on_commit_callbacks,
):
    patient = PatientFactory(enrolled_on=days(-200))
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                outbox.patient_changed(patient.pk)
                raise RuntimeError("the write fails after marking")
        except RuntimeError:
            pass
        outbox.patient_changed(patient.pk)
    assert [callback.patient_id for callback in callbacks] == [patient.pk]
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def _eligible_patients(count: int) -> list[int]:
    ids = []
    for _ in range(count):
        patient = PatientFactory(enrolled_on=days(-200))
        TreatmentFactory(patient=patient, start_date=days(-90))
        ids.append(patient.pk)
    return ids


@pytest.mark.django_db
def test_an_evaluation_after_a_change_takes_every_due_mark_and_the_next_has_nothing_left():
    first, second, third = _eligible_patients(3)
    for patient_id in (first, second, third):
        outbox.patient_changed(patient_id)

    stats = tasks.evaluate_patient.apply(args=[second], kwargs={"after_change": True}).get()

    assert stats["evaluated"] == 3
    assert set(SurveillanceState.objects.values_list("patient_id", flat=True)) == {
        first, second, third,
    }  # fmt: skip
    assert not PendingEvaluation.objects.exists()
    # The tasks the other two changes sent find their marks answered.
    for patient_id in (first, third):
        stats = tasks.evaluate_patient.apply(args=[patient_id], kwargs={"after_change": True})
        assert stats.get()["evaluated"] == 0


@pytest.mark.django_db
def test_marks_taken_by_a_run_are_out_of_reach_until_answered_or_their_lease_ends():
    from django.utils import timezone

    from surveillance import marks

    first, second = _eligible_patients(2)
    outbox.patient_changed(first)
    now = timezone.now()

    assert marks.claim(now=now, limit=10) == [first]
    # Another worker's run (or the sweep) finds nothing to do meanwhile ...
    assert marks.claim(now=now, limit=10) == []
    assert marks.due(now=now, limit=10) == []
    # ... but a new change to the patient is due at once, and so is another patient's.
    outbox.patient_changed(second)
    assert marks.claim(now=timezone.now(), limit=10) == [second]
    outbox.patient_changed(first)
    assert marks.claim(now=timezone.now(), limit=10) == [first]
    # A run that died: its marks come due again when the lease ends.
    later = timezone.now() + timedelta(seconds=marks.LEASE_SECONDS + 1)
    assert marks.claim(now=later, limit=10) == [first, second]


@pytest.mark.django_db
def test_a_run_after_a_change_evaluates_at_most_its_batch_and_leaves_the_rest_due():
    ids = _eligible_patients(5)
    for patient_id in ids:
        outbox.patient_changed(patient_id)

    assert engine.run_after_change(ids[0], limit=2).evaluated == 2
    assert PendingEvaluation.objects.count() == 3
    assert engine.run_after_change(ids[0], limit=10).evaluated == 3
    assert not PendingEvaluation.objects.exists()

"""A change is never lost: when the broker is down the write still commits with its
re-evaluation mark, and the minute sweep raises the alert once it runs."""

import threading
import time

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

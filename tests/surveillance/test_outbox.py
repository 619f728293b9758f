"""A change is never lost: when the broker is down the write still commits with its
re-evaluation flag, and the minute sweep raises the alert once it runs."""

import time

import pytest
from rest_framework.test import APIClient

from config.celery import app
from surveillance import engine
from surveillance.models import Alert, SurveillanceState
from tests.factories import DrawFactory, PatientFactory, TreatmentFactory, days


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
    assert SurveillanceState.objects.get(patient=patient).needs_evaluation
    assert not Alert.objects.filter(patient=patient).exists()

    stats = engine.run_marked()
    assert stats.evaluated == 1
    assert Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()
    assert not SurveillanceState.objects.get(patient=patient).needs_evaluation

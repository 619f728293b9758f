"""End to end through the real queue: a result saved through the API raises its alert
within seconds, evaluated by a real Celery worker process reading from the real Redis."""

import time

import pytest
from rest_framework.test import APIClient

from patients.models import PendingEvaluation
from surveillance.models import Alert, SurveillanceState
from tests.factories import DrawFactory, PatientFactory, TreatmentFactory, days


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_esr1_result_posted_through_the_api_raises_the_switch_alert(celery_worker_process, nurse):
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
            "variants": [{"gene": "ESR1", "protein_change": "p.(Asp538Gly)", "vaf_percent": "0.6"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["esr1_status"] == "detected"

    def alert_open():
        return Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()

    assert wait_for(alert_open), "no esr1_switch alert within 15 s of the result being saved"
    elapsed = time.monotonic() - started
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    assert "D538G" in alert.title and "0.6%" in alert.title
    state = SurveillanceState.objects.get(patient=patient)
    assert state.eligible and not PendingEvaluation.objects.filter(patient=patient).exists()
    assert elapsed < 15

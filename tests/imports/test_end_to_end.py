"""End to end through the real queue: a laboratory report that arrives as a FHIR bundle, an
HL7 message over HTTP, an HL7 message over MLLP (the real listener) or a CSV batch opens the
ESR1 alert within seconds, evaluated by a real Celery worker; nobody runs the engine by
hand. A corrected report then moves the open alert's evidence version."""

import socket
import time
from datetime import date

import pytest

from surveillance.models import Alert
from tests.factories import PatientFactory, TreatmentFactory, days
from tests.imports.fhir import bundle
from tests.imports.hl7 import oru
from tests.tokens import api_token

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
CSV_HEADER = "mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent\n"


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def eligible_patient(mrn: str):
    patient = PatientFactory(mrn=mrn, birth_date=date(1960, 3, 1), enrolled_on=days(-200))
    TreatmentFactory(patient=patient, start_date=days(-90))
    return patient


def switch_alert(patient):
    return Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").first()


@pytest.fixture
def lab_client(api, lab):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(lab)}")
    return client


def post(client, url: str, body: str):
    return client.generic("POST", url, body.encode(), content_type="application/octet-stream")


def test_a_fhir_bundle_opens_the_esr1_alert_and_a_correction_moves_it(
    celery_worker_process, lab_client
):
    patient = eligible_patient("E2E-FHIR")
    dates = {"mrn": "E2E-FHIR", "collected_on": days(-6), "reported_on": days(-1)}

    response = post(lab_client, "/api/v1/imports/fhir/", bundle(**dates))

    assert response.status_code == 201, response.json()
    assert wait_for(lambda: switch_alert(patient) is not None), "no ESR1 alert opened"
    alert = switch_alert(patient)
    assert "D538G" in alert.title and alert.evidence_version == 1

    corrected = bundle(**dates, status="amended", variants=(("ESR1", "p.Tyr537Ser", "1.4"),))
    assert post(lab_client, "/api/v1/imports/fhir/", corrected).status_code == 201

    def moved():
        alert.refresh_from_db()
        return "Y537S" in alert.title

    assert wait_for(moved), alert.title
    assert alert.evidence_version >= 2


def test_an_hl7_message_over_http_opens_the_esr1_alert(celery_worker_process, lab_client):
    patient = eligible_patient("E2E-HTTP")
    message = oru(mrn="E2E-HTTP", collected_on=days(-6), reported_on=days(-1))

    assert post(lab_client, "/api/v1/imports/hl7v2/", message).status_code == 201
    assert wait_for(lambda: switch_alert(patient) is not None)


def test_an_hl7_message_over_mllp_opens_the_esr1_alert(celery_worker_process, listener):
    patient = eligible_patient("E2E-MLLP")
    message = oru(mrn="E2E-MLLP", collected_on=days(-6), reported_on=days(-1)).encode()

    with socket.create_connection(("127.0.0.1", listener), timeout=30) as sock:
        sock.sendall(b"\x0b" + message + b"\x1c\x0d")
        ack = b""
        while not ack.endswith(b"\x1c\x0d"):
            ack += sock.recv(4096)
    assert b"MSA|AA|MSG00001" in ack
    assert wait_for(lambda: switch_alert(patient) is not None)


def test_a_csv_batch_opens_the_esr1_alert(celery_worker_process, lab_client):
    patient = eligible_patient("E2E-CSV")
    rows = f"E2E-CSV,CSV-1,{days(-6)},{days(-1)},final,ESR1,Y537S,0.4\n"

    assert post(lab_client, "/api/v1/imports/csv/", CSV_HEADER + rows).status_code == 201
    assert wait_for(lambda: switch_alert(patient) is not None)
    assert "Y537S" in switch_alert(patient).title

"""The home page and GET /api/v1/worklist/ list the same work: both read
surveillance.selectors.worklist_for."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from surveillance import engine
from surveillance.models import Alert
from surveillance.services import alert_resolve
from tests.factories import (
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    UserFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db


def positive(oncologist, *, vaf="0.4"):
    """An ESR1 switch alert (an ESR1 alert: oncologists only)."""
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-150))
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-12))
    result = ResultFactory(draw=draw, reported_on=days(-5), esr1_status="detected")
    VariantFactory(result=result, vaf_percent=Decimal(vaf))
    return patient


def overdue(oncologist):
    """A draw overdue alert (medium)."""
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-100))
    return patient


def due_soon(oncologist):
    """A draw due alert (low)."""
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-52))
    return patient


def waiting_for_result(oncologist):
    """A result overdue alert (low): collected three weeks ago, nothing back."""
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-60))
    DrawFactory(patient=patient, status="collected", collected_on=days(-21))
    return patient


@pytest.fixture
def clinic(oncologist):
    """Work of every kind for two oncologists, and one alert already resolved. Made least
    urgent first, so the order of the rows is not the order they were made in."""
    colleague = UserFactory(username="colleague")
    for owner in (oncologist, colleague):
        waiting_for_result(owner)
        due_soon(owner)
        overdue(owner)
        positive(owner)
    done = overdue(oncologist)
    engine.run_all()
    alert = Alert.objects.get(patient=done, kind="draw_overdue")
    alert_resolve(
        actor=oncologist, alert=alert, evidence_version=alert.evidence_version, decision="done"
    )
    return colleague


def api_worklist(user) -> list[int]:
    client = APIClient()
    client.force_authenticate(user)
    body = client.get("/api/v1/worklist/").json()
    assert body["next"] is None  # all of it on one page
    return [item["id"] for item in body["results"]]


def test_oncologist_page_and_api_list_the_same_alerts_in_the_same_order(client, oncologist, clinic):
    client.force_login(oncologist)
    response = client.get("/")
    page = [a.id for a in response.context["esr1_alerts"] + response.context["other_alerts"]]

    assert page == api_worklist(oncologist)
    mine = Alert.objects.filter(status="open", patient__oncologist=oncologist)
    assert sorted(page) == sorted(mine.values_list("id", flat=True))
    assert len(page) == 4  # ESR1 switch, overdue, due, result overdue; not the colleague's
    html = response.content.decode()
    assert all(f"/patients/{a.patient_id}/" in html for a in mine)


def test_nurse_page_and_api_list_the_same_alerts_in_the_same_order(client, nurse, clinic):
    client.force_login(nurse)
    response = client.get("/")
    page = [a.id for a in response.context["alerts"].object_list]

    assert page == api_worklist(nurse)
    logistics = Alert.objects.filter(status="open").exclude(kind__startswith="esr1")
    assert sorted(page) == sorted(logistics.values_list("id", flat=True))
    assert len(page) == 6  # both oncologists' draw alerts; no ESR1 alert, nothing resolved
    assert response.context["alerts"].paginator.count == len(page)

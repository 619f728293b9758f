"""The home page and GET /api/v1/worklist/ list the same work: both read
surveillance.selectors.worklist_for."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from surveillance import engine
from surveillance.models import Alert
from surveillance.services import alert_resolve
from tests.factories import (
    TODAY,
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


def test_nurse_rows_show_every_cell_with_names_and_texts_escaped(client, nurse, oncologist):
    patient = PatientFactory(
        oncologist=oncologist, family_name="O'Neil <b>", given_name="Ann & Jo", mrn="M<1>"
    )
    DrawFactory(
        patient=patient, status="planned", due_date=TODAY, pinned=True, collected_on=None,
        assay="", accession="",
    )  # fmt: skip
    waiting = PatientFactory(oncologist=oncologist, family_name="Waiting", given_name="Bo")
    sample = DrawFactory(patient=waiting, status="collected", collected_on=date(2026, 3, 5))
    words = [f"word{i}" for i in range(40)]
    alert = Alert.objects.create(
        patient=patient, kind="draw_overdue", severity="medium", title="Draw <late>",
        rationale="\n".join(words), policy_version=3, evidence={},
    )  # fmt: skip
    # Opened just before midnight UTC: the next day in Berlin, where the page is read.
    Alert.objects.filter(id=alert.id).update(created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    client.force_login(nurse)
    with timezone.override("Europe/Berlin"):
        html = client.get("/").content.decode()

    who = (
        f'<td><a href="/patients/{patient.id}/">O&#x27;Neil &lt;b&gt;, Ann &amp; Jo</a><br>'
        '<span class="muted">M&lt;1&gt;</span></td>'
    )
    today = f"{TODAY:%a} {TODAY.day} {TODAY:%b} {TODAY.year}"
    assert (
        f'<tr>\n  {who}\n  <td>{today} <span class="tag">repeat test</span></td>\n'
        f'  <td><a class="button primary" href="/patients/{patient.id}/draws/new/">'
        "Record draw</a></td>\n</tr>"
    ) in html
    assert (
        f'<td>collected 5 Mar 2026</td>\n  <td><a class="button primary" '
        f'href="/draws/{sample.id}/result/">Enter result</a></td>'
    ) in html
    assert (
        f'<tr id="alert-{alert.id}">\n  <td><span class="sev sev-medium">Medium</span></td>\n'
        f"  {who}\n"
        '  <td><strong>Draw &lt;late&gt;</strong><br><span class="muted">Draw overdue'
        ' · opened 2026-03-02 · <a href="/policy/v3/">policy v3</a></span></td>\n'
        f"  <td>{' '.join(words[:30])} …</td>\n"
        f'  <td><a class="button" href="/alerts/{alert.id}/resolve/">Decide</a></td>\n</tr>'
    ) in html

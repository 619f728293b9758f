"""Names, notes and lab text are data, never markup, wherever they are shown."""

from decimal import Decimal

import pytest
from django.utils import timezone

from surveillance.models import Alert
from tests.factories import (
    AppointmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"onmouseover=alert(2) x="'
RAW = [SCRIPT, ATTRIBUTE, "<svg onload", "<img src=x"]
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_ATTRIBUTE = "&quot;onmouseover=alert(2) x=&quot;"


@pytest.fixture
def hostile_patient(oncologist, nurse):
    """A patient whose names, notes, lab text and alerts all carry markup."""
    patient = PatientFactory(
        oncologist=oncologist, given_name=SCRIPT, family_name=ATTRIBUTE, mrn="XSS-<b>1</b>"
    )
    TreatmentFactory(patient=patient, start_date=days(-150))
    AppointmentFactory(patient=patient, note=f"{SCRIPT} <img src=x onerror=alert(3)>")
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-12),
                       accession=ATTRIBUTE)  # fmt: skip
    result = ResultFactory(draw=draw, reported_on=days(-5), esr1_status="detected")
    # `short` holds 16 characters.
    VariantFactory(result=result, short='"<svg onload=4>', vaf_percent=Decimal("0.4"))
    DrawFactory(patient=patient, status="collected", collected_on=days(-2), accession=SCRIPT)
    common = {"patient": patient, "severity": "high", "policy_version": 1,
              "title": f"ESR1 {SCRIPT}", "rationale": f"{ATTRIBUTE}. Rule {SCRIPT}."}  # fmt: skip
    Alert.objects.create(kind="esr1_switch", subject="open", **common)
    Alert.objects.create(
        kind="draw_overdue", subject="done", status="resolved", decision="dismissed",
        resolved_at=timezone.now(), resolved_by=nurse, note=f"{SCRIPT} {ATTRIBUTE}", **common,
    )  # fmt: skip
    Alert.objects.create(kind="redraw_needed", subject="nurse", **common)
    return patient


def assert_escaped(html: str):
    for raw in RAW:
        assert raw not in html, f"unescaped {raw!r}"
    assert ESCAPED_SCRIPT in html
    assert ESCAPED_ATTRIBUTE in html


def test_patient_list_escapes_names(client, nurse, hostile_patient):
    client.force_login(nurse)

    assert_escaped(client.get("/patients/").content.decode())


def test_patient_page_and_its_timeline_escape_everything(client, oncologist, hostile_patient):
    client.force_login(oncologist)

    html = client.get(f"/patients/{hostile_patient.pk}/").content.decode()

    assert_escaped(html)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert_escaped(svg)  # the picture's title names the patient; variants label its lines
    assert "&quot;&lt;svg onload=4&gt;" in svg


def test_worklists_escape_names_titles_and_rationale(client, oncologist, nurse, hostile_patient):
    for user in (oncologist, nurse):
        client.force_login(user)
        html = client.get("/").content.decode()
        assert "alert-" in html, user  # the hostile alert is listed
        assert_escaped(html)


def test_forms_escape_the_patient_in_their_breadcrumbs(client, nurse, hostile_patient):
    client.force_login(nurse)
    collected = hostile_patient.draws.get(status="collected")
    alert = Alert.objects.get(kind="redraw_needed")

    for url in (
        f"/patients/{hostile_patient.pk}/draws/new/",
        f"/draws/{collected.pk}/result/",
        f"/alerts/{alert.pk}/resolve/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.content.decode())

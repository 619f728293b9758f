"""Clinician-facing words: no page a clinician or administrator sees cites the specification;
alerts name their rule in clinical words and link their policy version to the policy page."""

import re
from decimal import Decimal

import pytest

from surveillance import engine
from surveillance.models import Alert
from surveillance.rules import RULE_NAMES
from surveillance.services import alert_resolve
from tests.factories import (
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db

# "SPEC" as the documents call it, or a numbered section or rule of it.
CITES_THE_SPEC = re.compile(r"SPEC|(?i:\bspecification\b|\bsection \d|\brule \d)")


def resulted(patient, collected, *, short="D538G", vaf="0.4", activating=True):
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(collected))
    detected = "detected" if activating else "not_detected"
    result = ResultFactory(draw=draw, reported_on=days(collected + 5), esr1_status=detected)
    VariantFactory(
        result=result,
        short=short,
        protein_change={"D538G": "p.Asp538Gly", "A593D": "p.Ala593Asp"}[short],
        vaf_percent=Decimal(vaf),
        esr1_activating=activating,
        esr1_vus=not activating,
    )
    return draw


@pytest.fixture
def clinic(oncologist):
    """A patient for every alert kind, and one alert decided."""
    patients = {}

    def patient(name, start=-150, **kw):
        p = PatientFactory(oncologist=oncologist, family_name=name, **kw)
        TreatmentFactory(patient=p, start_date=days(start))
        patients[name] = p
        return p

    resulted(patient("Switch"), -12)
    at_progression = patient("Progressed")
    resulted(at_progression, -40)
    AssessmentFactory(patient=at_progression, date=days(-10), response="PD")
    resulted(patient("Variant"), -20, short="A593D", activating=False)
    patient("Late", start=-100)
    patient("Soon", start=-52)
    failed = DrawFactory(patient=patient("Failed"), status="resulted", collected_on=days(-30))
    ResultFactory(draw=failed, reported_on=days(-25), status="failed", esr1_status="failed")
    DrawFactory(patient=patient("Waiting", start=-60), status="collected", collected_on=days(-21))
    engine.run_all()
    decided = resulted(patient("Decided"), -15)
    engine.run_all()
    decided_alert = Alert.objects.get(patient=decided.patient, kind="esr1_switch")
    alert_resolve(
        actor=oncologist,
        alert=decided_alert,
        evidence_version=decided_alert.evidence_version,
        decision="deferred",
        note="Tumour board next week.",
    )
    return patients


def test_every_alert_kind_is_in_the_clinic(clinic):
    kinds = set(Alert.objects.values_list("kind", flat=True))
    assert kinds == set(RULE_NAMES)


def pages_for_clinicians(clinic) -> list[str]:
    some = clinic["Switch"]
    treatment = some.treatments.first()
    pending = clinic["Waiting"].draws.get(status="collected")
    urls = ["/", "/patients/", "/policy/", "/policy/v1/", "/account/security/"]
    urls += [f"/patients/{p.id}/" for p in clinic.values()]
    urls += [f"/alerts/{a.id}/resolve/" for a in Alert.objects.filter(status="open")]
    urls += [
        "/patients/new/",
        f"/patients/{some.id}/edit/",
        f"/patients/{some.id}/treatments/new/",
        f"/patients/{some.id}/treatments/{treatment.id}/edit/",
        f"/patients/{some.id}/assessments/new/",
        f"/patients/{some.id}/appointments/new/",
        f"/patients/{some.id}/draws/new/",
        f"/draws/{pending.id}/result/",
    ]
    return urls


def test_no_page_a_clinician_sees_cites_the_specification(
    client, clinic, oncologist, nurse, admin_user
):
    seen = 0
    for user in (oncologist, nurse):
        client.force_login(user)
        for url in pages_for_clinicians(clinic):
            response = client.get(url)
            if response.status_code == 403:  # a nurse's forms, an ESR1 decision
                continue
            assert response.status_code == 200, (user.role, url)
            html = response.content.decode()
            assert not CITES_THE_SPEC.search(html), (user.role, url, CITES_THE_SPEC.search(html))
            seen += 1
    client.force_login(admin_user)
    for url in ("/", "/policy/", "/policy/v1/"):
        html = client.get(url).content.decode()
        assert not CITES_THE_SPEC.search(html), url
    assert seen > 30


def test_alert_rows_forms_and_patient_page_name_the_rule_and_link_the_policy(client, clinic):
    client.force_login(clinic["Switch"].oncologist)
    alert = Alert.objects.get(patient=clinic["Switch"], kind="esr1_switch")
    link = '<a href="/policy/v1/">policy v1</a>'

    home = client.get("/").content.decode()
    row = home[home.index(f'id="alert-{alert.id}"') :]
    assert link in row[: row.index("</tr>")]

    for url in (f"/patients/{alert.patient_id}/", f"/alerts/{alert.id}/resolve/"):
        html = client.get(url).content.decode()
        assert f"Rule: {RULE_NAMES['esr1_switch']} ({link})." in html, url
        assert f"opened {alert.created_at:%Y-%m-%d}" in html


def test_the_rationale_is_escaped_around_its_policy_link(client, clinic):
    alert = Alert.objects.get(patient=clinic["Switch"], kind="esr1_switch")
    Alert.objects.filter(pk=alert.pk).update(rationale="<b>bold</b> under policy v1 and v22.")
    client.force_login(clinic["Switch"].oncologist)
    html = client.get(f"/alerts/{alert.id}/resolve/").content.decode()
    assert '&lt;b&gt;bold&lt;/b&gt; under <a href="/policy/v1/">policy v1</a> and v22.' in html

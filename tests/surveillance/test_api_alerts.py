from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from patients.models import Treatment
from surveillance import engine
from surveillance.models import Alert, Draw
from tests.factories import (
    TODAY,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    UserFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def positive_patient(oncologist, *, vaf="0.4", collected=-10):
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-120))
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(collected))
    result = ResultFactory(draw=draw, reported_on=days(collected + 4), esr1_status="detected")
    VariantFactory(result=result, vaf_percent=Decimal(vaf))
    return patient


@pytest.fixture
def switch_alert(oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    return Alert.objects.get(patient=patient, kind="esr1_switch")


def test_alert_list_filters_by_patient_kind_and_status(oncologist, switch_alert):
    other = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=other, start_date=days(-200))
    engine.run_all()
    client = api(oncologist)
    body = client.get("/api/v1/alerts/", {"patient": switch_alert.patient_id}).json()
    assert [a["id"] for a in body["results"]] == [switch_alert.id]
    assert body["results"][0]["rationale"].startswith("ESR1")
    kinds = {
        a["kind"] for a in client.get("/api/v1/alerts/", {"kind": "esr1_switch"}).json()["results"]
    }
    assert kinds == {"esr1_switch"}
    assert client.get("/api/v1/alerts/", {"status": "resolved"}).json()["count"] == 0
    assert client.get("/api/v1/alerts/", {"kind": "nonsense"}).status_code == 400


def test_oncologist_resolves_as_switched_through_the_api(oncologist, switch_alert):
    AssessmentFactory(patient=switch_alert.patient, date=days(-5), response="SD")
    response = api(oncologist).post(
        f"/api/v1/alerts/{switch_alert.id}/resolve/",
        {
            "evidence_version": switch_alert.evidence_version,
            "decision": "switched",
            "switch_date": TODAY.isoformat(),
            "new_endocrine_therapy": "camizestrant",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["decision"], body["resolved_by"]) == (
        "resolved",
        "switched",
        "onc",
    )
    new = Treatment.objects.get(id=body["decision_details"]["new_treatment_id"])
    assert new.endocrine_therapy_id == "camizestrant"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"decision": "deferred"}, "note"),
        ({"decision": "dismissed", "note": ""}, "note"),
        ({"decision": "switched", "new_endocrine_therapy": "camizestrant"}, "switch_date"),
        (
            {
                "decision": "switched",
                "switch_date": "2026-01-01",
                "new_endocrine_therapy": "letrozole",
            },
            "new_endocrine_therapy",
        ),
        ({"decision": "repeat_test"}, "date"),
        ({"decision": "repeat_test", "date": "not-a-date"}, "date"),
        ({"decision": "eat_cake"}, "decision"),
        ({"decision": "done"}, "decision"),
    ],
)
def test_bad_decisions_are_400_with_the_field_and_change_nothing(
    oncologist, switch_alert, payload, field
):
    response = api(oncologist).post(
        f"/api/v1/alerts/{switch_alert.id}/resolve/",
        {"evidence_version": switch_alert.evidence_version, **payload},
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()
    switch_alert.refresh_from_db()
    assert switch_alert.status == "open"
    assert Treatment.objects.filter(patient=switch_alert.patient).count() == 1


def test_resolving_twice_is_refused(oncologist, switch_alert):
    url = f"/api/v1/alerts/{switch_alert.id}/resolve/"
    version = switch_alert.evidence_version
    decided = {"evidence_version": version, "decision": "dismissed", "note": "artefact"}
    assert api(oncologist).post(url, decided, format="json").status_code == 200
    again = api(oncologist).post(url, {**decided, "note": "again"}, format="json")
    assert again.status_code == 400
    assert "already been resolved" in again.json()["decision"][0]


def test_nurse_cannot_resolve_an_esr1_alert(nurse, switch_alert):
    response = api(nurse).post(
        f"/api/v1/alerts/{switch_alert.id}/resolve/",
        {"evidence_version": switch_alert.evidence_version, "decision": "dismissed", "note": "x"},
        format="json",
    )
    assert response.status_code == 403
    # Refused for the role before the input is read: no hint of what a valid decision is.
    incomplete = api(nurse).post(f"/api/v1/alerts/{switch_alert.id}/resolve/", {}, format="json")
    assert incomplete.status_code == 403
    switch_alert.refresh_from_db()
    assert switch_alert.status == "open"


def test_nurse_may_close_a_logistics_alert(nurse, oncologist):
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-100))
    engine.run_all()  # due at day -44: overdue
    alert = Alert.objects.get(patient=patient, kind="draw_overdue")
    response = api(nurse).post(
        f"/api/v1/alerts/{alert.id}/resolve/",
        {
            "evidence_version": alert.evidence_version,
            "decision": "done",
            "note": "Phoned, booked Tue",
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["resolved_by"] == "nurse"


def test_admin_and_anonymous_see_no_alerts(admin_user, switch_alert):
    assert api(admin_user).get("/api/v1/alerts/").status_code == 403
    assert api(admin_user).get("/api/v1/worklist/").status_code == 403
    assert api().get("/api/v1/alerts/").status_code == 401
    assert api().post(f"/api/v1/alerts/{switch_alert.id}/resolve/", {}).status_code == 401


def test_oncologist_worklist_puts_own_esr1_alerts_first(oncologist):
    mine_overdue = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=mine_overdue, start_date=days(-100))
    mine_positive = positive_patient(oncologist)
    colleague = UserFactory(username="colleague")
    positive_patient(colleague)
    engine.run_all()
    items = api(oncologist).get("/api/v1/worklist/").json()["results"]
    assert [(i["patient"], i["kind"]) for i in items] == [
        (mine_positive.id, "esr1_switch"),
        (mine_overdue.id, "draw_overdue"),
    ]


def test_nurse_worklist_has_logistics_across_the_clinic_by_severity(nurse, oncologist):
    overdue = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=overdue, start_date=days(-100))  # due day -44: overdue (medium)
    due = PatientFactory(oncologist=UserFactory(username="other-onc"))
    TreatmentFactory(patient=due, start_date=days(-52))  # due day +4: due (low)
    positive_patient(oncologist)
    engine.run_all()
    items = api(nurse).get("/api/v1/worklist/").json()["results"]
    assert [(i["patient"], i["kind"], i["severity"]) for i in items] == [
        (overdue.id, "draw_overdue", "medium"),
        (due.id, "draw_due", "low"),
    ]
    assert Draw.objects.filter(status="planned").count() == 3


def test_worklist_query_count_is_constant(oncologist, django_assert_max_num_queries):
    for _ in range(3):
        positive_patient(oncologist)
    engine.run_all()
    client = api(oncologist)
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/worklist/").json()["results"]) == 3
    for _ in range(30):
        positive_patient(oncologist)
    engine.run_all()
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/worklist/").json()["results"]) == 33

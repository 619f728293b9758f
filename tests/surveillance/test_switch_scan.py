"""A switch is confirmed by a scan (SPEC section 5.6): a `switched` decision needs an imaging
assessment without PD within the policy's `switch_scan_days` (default 42) before the switch
date, or a note giving the reason; the ESR1 alert shows the last scan wherever it is decided."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from patients.models import Treatment
from surveillance import engine
from surveillance.models import Alert, SurveillancePolicy
from surveillance.scans import LastScan, Scan, confirming_scan, latest
from tests.factories import (
    TODAY,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

# --- The rule, on plain values ---------------------------------------------------------------

SWITCH = date(2026, 3, 1)


def scan(on: date, response="SD", modality="ct", id=1):
    return Scan(id, on, modality, response)


@pytest.mark.parametrize(
    ("scans", "confirmed"),
    [
        ([], None),
        ([scan(SWITCH - timedelta(42))], 0),  # the window's first day counts
        ([scan(SWITCH - timedelta(43))], None),  # a day older does not
        ([scan(SWITCH)], 0),  # on the switch day
        ([scan(SWITCH + timedelta(1))], None),  # after the switch: not what it rested on
        ([scan(SWITCH - timedelta(5), "PD")], None),
        ([scan(SWITCH - timedelta(30)), scan(SWITCH - timedelta(10), "PD", id=2)], None),
        ([scan(SWITCH - timedelta(30), "PD"), scan(SWITCH - timedelta(10), "PR", id=2)], 1),
        ([scan(SWITCH - timedelta(10)), scan(SWITCH - timedelta(10), "PD", id=2)], None),
        ([scan(SWITCH - timedelta(40), "CR"), scan(SWITCH - timedelta(3), "NE", id=2)], 1),
    ],
    ids=["none", "day-42", "day-43", "same-day", "after", "pd", "pd-after-sd", "pr-after-pd",
         "pd-same-day", "latest-wins"],
)  # fmt: skip
def test_confirming_scan(scans, confirmed):
    found = confirming_scan(scans, switch_date=SWITCH, window_days=42)
    assert found == (None if confirmed is None else scans[confirmed])


def test_last_scan_wording():
    today = date(2026, 12, 3)
    ct = Scan(1, date(2026, 11, 2), "ct", "SD")
    assert LastScan(ct, today).text == "Last scan: CT 2026-11-02, stable disease, 31 days ago"
    assert LastScan(None, today).text == "No imaging on record"
    pet = Scan(2, today - timedelta(1), "pet_ct", "PD")
    assert LastScan(pet, today).text.endswith("PET-CT 2026-12-02, progressive disease, 1 day ago")
    assert LastScan(pet, today).is_progression
    same_day = [Scan(3, ct.on, "bone_scan", "PD"), ct]
    assert latest(same_day).response == "PD"  # progression is what the day shows


# --- The decision ---------------------------------------------------------------------------


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def alert(db, oncologist):
    patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-300))
    TreatmentFactory(patient=patient, start_date=days(-200))
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-12))
    result = ResultFactory(draw=draw, reported_on=days(-5), esr1_status="detected")
    VariantFactory(result=result, vaf_percent=Decimal("0.6"))
    engine.run_for_patients([patient.id])
    return Alert.objects.get(patient=patient, kind="esr1_switch")


def switch(user, alert, *, on=TODAY, **extra):
    return api(user).post(
        f"/api/v1/alerts/{alert.id}/resolve/",
        {"evidence_version": alert.evidence_version, "decision": "switched",
         "switch_date": on.isoformat(), "new_endocrine_therapy": "camizestrant", **extra},
        format="json",
    )  # fmt: skip


def switched(alert) -> bool:
    return Treatment.objects.filter(
        patient_id=alert.patient_id, endocrine_therapy_id="camizestrant"
    ).exists()


def test_a_scan_without_progression_in_the_window_confirms_the_switch(oncologist, alert):
    ct = AssessmentFactory(patient=alert.patient, date=days(-30), response="SD")
    response = switch(oncologist, alert)
    assert response.status_code == 200, response.json()
    details = response.json()["decision_details"]
    assert details["confirming_scan"] == {
        "assessment_id": ct.id, "date": days(-30).isoformat(), "modality": "ct", "response": "SD",
    }  # fmt: skip
    assert details["scan_window_days"] == 42
    assert switched(alert)


def test_a_scan_older_than_the_window_needs_a_note(oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-43), response="SD")
    response = switch(oncologist, alert)
    assert response.status_code == 400
    (message,) = response.json()["note"]
    assert f"last scan: CT {days(-43).isoformat()}, stable disease" in message
    assert "42 days" in message
    alert.refresh_from_db()
    assert alert.status == "open" and not switched(alert)


def test_the_window_counts_back_from_the_switch_date_not_today(oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-43), response="SD")
    assert switch(oncologist, alert, on=days(-2)).status_code == 200


def test_a_progression_scan_in_the_window_does_not_confirm(oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-30), response="SD")
    AssessmentFactory(patient=alert.patient, date=days(-4), response="PD", modality="pet_ct")
    response = switch(oncologist, alert)
    assert response.status_code == 400
    assert f"PET-CT {days(-4).isoformat()}, progressive disease" in response.json()["note"][0]
    assert not switched(alert)


def test_without_any_imaging_the_note_is_required(oncologist, alert):
    response = switch(oncologist, alert)
    assert response.status_code == 400
    assert "no imaging on record" in response.json()["note"][0]


def test_a_note_giving_the_reason_is_accepted_and_kept(oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-90), response="SD")
    reason = "CT booked for next week; patient prefers to start the SERD now."
    response = switch(oncologist, alert, note=f"  {reason} ")
    assert response.status_code == 200, response.json()
    alert.refresh_from_db()
    assert (alert.decision, alert.note) == ("switched", reason)
    assert alert.decision_details["confirming_scan"] is None
    assert switched(alert)


def test_the_window_is_the_policy_in_force(oncologist, alert):
    SurveillancePolicy.objects.create(version=2, switch_scan_days=60, note="longer window")
    AssessmentFactory(patient=alert.patient, date=days(-50), response="SD")
    response = switch(oncologist, alert)
    assert response.status_code == 200, response.json()
    assert response.json()["decision_details"]["scan_window_days"] == 60


# --- The pages ------------------------------------------------------------------------------


def test_the_decision_form_shows_the_last_scan(client, oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-100), response="PR")
    AssessmentFactory(patient=alert.patient, date=days(-31), response="SD")
    client.force_login(oncologist)
    page = client.get(f"/alerts/{alert.id}/resolve/").content.decode()
    assert f"Last scan: CT {days(-31).isoformat()}, stable disease, 31 days ago" in page
    assert "42 days before the switch date" in page


def test_the_decision_form_says_when_there_is_no_imaging(client, oncologist, alert):
    client.force_login(oncologist)
    page = client.get(f"/alerts/{alert.id}/resolve/").content.decode()
    assert "No imaging on record" in page


def test_the_page_asks_for_the_note_naming_the_last_scan(client, oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-60), response="SD")
    client.force_login(oncologist)
    response = client.post(
        f"/alerts/{alert.id}/resolve/",
        {"evidence_version": alert.evidence_version, "decision": "switched",
         "switch_date": TODAY.isoformat(), "new_endocrine_therapy": "camizestrant"},
    )  # fmt: skip
    assert response.status_code == 200
    (message,) = response.context["form"].errors["note"]
    assert days(-60).isoformat() in message
    assert not switched(alert)


def test_the_worklist_row_and_the_patient_page_show_the_last_scan(client, oncologist, alert):
    AssessmentFactory(patient=alert.patient, date=days(-8), response="SD", modality="mri")
    others = PatientFactory(oncologist=oncologist, enrolled_on=days(-300))
    TreatmentFactory(patient=others, start_date=days(-200))
    draw = DrawFactory(patient=others, status="resulted", collected_on=days(-12))
    VariantFactory(result=ResultFactory(draw=draw, reported_on=days(-5), esr1_status="detected"))
    engine.run_for_patients([others.id])
    client.force_login(oncologist)

    home = client.get("/").content.decode()
    assert f"Last scan: MRI {days(-8).isoformat()}, stable disease, 8 days ago" in home
    assert "No imaging on record" in home  # the other patient's row

    patient_page = client.get(f"/patients/{alert.patient_id}/").content.decode()
    assert f"Last scan: MRI {days(-8).isoformat()}, stable disease, 8 days ago" in patient_page


def test_the_oncologist_worklist_reads_the_scans_in_one_query(
    client, oncologist, alert, django_assert_max_num_queries
):
    client.force_login(oncologist)
    client.get("/")  # warm the session and caches
    with django_assert_max_num_queries(12) as one:
        client.get("/")
    for _ in range(5):
        patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-300))
        TreatmentFactory(patient=patient, start_date=days(-200))
        AssessmentFactory(patient=patient, date=days(-20))
        draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-12))
        VariantFactory(
            result=ResultFactory(draw=draw, reported_on=days(-5), esr1_status="detected")
        )
        engine.run_for_patients([patient.id])
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/").content.decode().count("Last scan: CT") == 5


# --- The policy -----------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _policy_form(**changes) -> dict:
    fields = SurveillancePolicy._meta.fields
    skip = {"id", "version", "created_at", "created_by"}
    latest_policy = SurveillancePolicy.objects.order_by("-version").first()
    data = {f.name: getattr(latest_policy, f.name) for f in fields if f.name not in skip}
    return {**data, "note": "test", **changes}


def test_the_policy_admin_edits_the_switch_scan_window(admin_client):
    listing = admin_client.get("/admin/surveillance/surveillancepolicy/").content.decode()
    assert "column-switch_scan_days" in listing
    form = admin_client.get("/admin/surveillance/surveillancepolicy/add/").content.decode()
    assert 'name="switch_scan_days"' in form and 'value="42"' in form

    refused = admin_client.post(
        "/admin/surveillance/surveillancepolicy/add/", _policy_form(switch_scan_days=0)
    )
    assert refused.status_code == 200
    assert "switch_scan_days" in refused.context["adminform"].form.errors
    assert SurveillancePolicy.objects.count() == 1

    saved = admin_client.post(
        "/admin/surveillance/surveillancepolicy/add/", _policy_form(switch_scan_days=56)
    )
    assert saved.status_code == 302
    latest_policy = SurveillancePolicy.objects.order_by("-version").first()
    assert (latest_policy.version, latest_policy.switch_scan_days) == (2, 56)


def test_the_database_refuses_a_window_of_zero(db):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        SurveillancePolicy.objects.create(version=9, switch_scan_days=0)

"""A decision covers only the evidence the clinician saw (SPEC sections 3 and 5.6).

Every alert carries `evidence_version` (1 when opened, +1 whenever its evidence changes); a
decision carries the version it was made on and is refused (409, nothing saved) when the
evidence has moved on since."""

import re
import threading
import time
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, transaction
from rest_framework.test import APIClient

from patients.models import Treatment
from surveillance import engine
from surveillance.models import Alert, Draw
from surveillance.services import StaleEvidence, alert_resolve, draw_record, result_record
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

AlertEvent = apps.get_model("surveillance", "AlertEvent")


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def positive_patient(oncologist, *, collected=-30):
    patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-200))
    TreatmentFactory(patient=patient, start_date=days(-150))
    AssessmentFactory(patient=patient, date=days(-6), response="SD")
    esr1_result(patient, collected=collected)
    return patient


def esr1_result(patient, *, collected, short="D538G", canonical="p.Asp538Gly", vaf="0.4"):
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(collected))
    result = ResultFactory(draw=draw, reported_on=days(collected + 5), esr1_status="detected")
    VariantFactory(result=result, short=short, protein_change=canonical, vaf_percent=Decimal(vaf))
    return result


def record_positive(nurse, patient, *, collected=-3, change="Y537S", vaf="1.2"):
    """A new result as the clinic records one: through the services."""
    draw = draw_record(
        actor=nurse, patient=patient, collected_on=days(collected), assay="guardant360_cdx"
    )
    return result_record(
        actor=nurse,
        draw=draw,
        reported_on=days(collected + 2),
        status="final",
        variants=[{"gene": "ESR1", "protein_change": change, "vaf_percent": vaf}],
    )


def switch_alert_of(patient) -> Alert:
    return Alert.objects.get(patient=patient, kind="esr1_switch", status="open")


def nothing_saved(alert: Alert, *, events_before: int) -> None:
    alert.refresh_from_db()
    assert (alert.status, alert.decision, alert.note) == ("open", "", "")
    assert AlertEvent.objects.filter(pgh_obj_id=alert.pk).count() == events_before
    treatments = Treatment.objects.filter(patient_id=alert.patient_id)
    assert [t.end_date for t in treatments] == [None]
    assert not Draw.objects.filter(patient_id=alert.patient_id, pinned=True).exists()


# --- The version ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_evidence_version_starts_at_1_and_moves_only_when_the_evidence_changes(oncologist, nurse):
    patient = positive_patient(oncologist)
    engine.run_for_patients([patient.id])
    alert = switch_alert_of(patient)
    assert alert.evidence_version == 1
    engine.run_for_patients([patient.id])
    engine.run_all()
    alert.refresh_from_db()
    assert alert.evidence_version == 1  # runs that change nothing keep the version

    newer = record_positive(nurse, patient)
    engine.run_for_patients([patient.id])
    alert.refresh_from_db()
    assert alert.evidence_version == 2
    assert newer.id in alert.evidence["result_ids"]
    # The history keeps each version's evidence.
    versions = AlertEvent.objects.filter(pgh_obj_id=alert.pk).order_by("pgh_id")
    assert [e.evidence_version for e in versions] == [1, 2]
    engine.run_for_patients([patient.id])
    alert.refresh_from_db()
    assert alert.evidence_version == 2


@pytest.mark.django_db
def test_the_alert_api_shows_the_evidence_version(oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    body = api(oncologist).get("/api/v1/alerts/", {"patient": patient.id}).json()
    assert body["results"][0]["evidence_version"] == 1


# --- The API ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_decision_without_evidence_version_is_a_400_naming_it(oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    alert = switch_alert_of(patient)
    response = api(oncologist).post(
        f"/api/v1/alerts/{alert.id}/resolve/",
        {"decision": "deferred", "note": "waiting for the scan"},
        format="json",
    )
    assert response.status_code == 400
    assert "evidence_version" in response.json()
    alert.refresh_from_db()
    assert alert.status == "open"


@pytest.mark.django_db
def test_the_service_refuses_a_decision_without_a_version_too(oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    alert = switch_alert_of(patient)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        alert_resolve(
            actor=oncologist, alert=alert, evidence_version=None, decision="deferred", note="x"
        )
    assert "evidence_version" in excinfo.value.message_dict


@pytest.mark.parametrize(
    "decision",
    [
        {"decision": "switched", "switch_date": TODAY.isoformat(),
         "new_endocrine_therapy": "camizestrant"},
        {"decision": "repeat_test", "date": days(14).isoformat()},
        {"decision": "dismissed", "note": "artefact"},
    ],
    ids=["switched", "repeat_test", "dismissed"],
)  # fmt: skip
@pytest.mark.django_db
def test_a_stale_decision_is_a_409_with_the_current_alert_and_saves_nothing(
    oncologist, nurse, decision
):
    patient = positive_patient(oncologist)
    engine.run_for_patients([patient.id])
    alert = switch_alert_of(patient)
    seen = api(oncologist).get(f"/api/v1/alerts/{alert.id}/").json()
    newer = record_positive(nurse, patient)
    engine.run_for_patients([patient.id])
    events_before = AlertEvent.objects.filter(pgh_obj_id=alert.pk).count()
    planned_before = list(Draw.objects.filter(patient=patient, status="planned").values())

    url = f"/api/v1/alerts/{alert.id}/resolve/"
    response = api(oncologist).post(
        url, {"evidence_version": seen["evidence_version"], **decision}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert "changed" in body["detail"]
    assert body["alert"]["id"] == alert.id
    assert body["alert"]["evidence_version"] == 2
    assert newer.id in body["alert"]["evidence"]["result_ids"]
    nothing_saved(alert, events_before=events_before)
    assert list(Draw.objects.filter(patient=patient, status="planned").values()) == planned_before

    again = api(oncologist).post(
        url, {"evidence_version": body["alert"]["evidence_version"], **decision}, format="json"
    )
    assert again.status_code == 200, again.json()
    assert again.json()["decision"] == decision["decision"]
    assert again.json()["decision_details"]["evidence_version"] == 2


@pytest.mark.django_db
def test_a_version_from_the_future_is_refused_too(oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    alert = switch_alert_of(patient)
    response = api(oncologist).post(
        f"/api/v1/alerts/{alert.id}/resolve/",
        {"evidence_version": 7, "decision": "dismissed", "note": "x"},
        format="json",
    )
    assert response.status_code == 409


# --- What a decision covers -----------------------------------------------------------


@pytest.mark.django_db
def test_a_decision_covers_only_its_evidence_and_a_later_result_opens_a_new_alert(
    oncologist, nurse
):
    patient = positive_patient(oncologist)
    engine.run_for_patients([patient.id])
    alert = switch_alert_of(patient)
    (first,) = alert.result_ids
    # A result is saved, but the engine has not run yet: the oncologist's version is current
    # and the decision is accepted, for the evidence it was made on.
    newer = record_positive(nurse, patient)
    alert_resolve(
        actor=oncologist, alert=alert, evidence_version=1, decision="deferred", note="review"
    )
    alert.refresh_from_db()
    assert (alert.status, alert.result_ids) == ("resolved", [first])

    engine.run_for_patients([patient.id])
    fresh = switch_alert_of(patient)
    assert fresh.id != alert.id
    assert fresh.result_ids == [newer.id] and fresh.evidence_version == 1


@pytest.mark.django_db
def test_a_decision_on_merged_evidence_covers_every_result_in_it(oncologist, nurse):
    patient = positive_patient(oncologist)
    engine.run_for_patients([patient.id])
    alert = switch_alert_of(patient)
    newer = record_positive(nurse, patient)
    engine.run_for_patients([patient.id])
    alert.refresh_from_db()
    alert_resolve(
        actor=oncologist, alert=alert, evidence_version=2, decision="deferred", note="review"
    )
    engine.run_for_patients([patient.id])
    assert not Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()
    assert newer.id in Alert.objects.get(pk=alert.pk).result_ids


# --- Against the real engine, committed in between -------------------------------------


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)" name="{name}"', html
    )
    assert match, f"no hidden {name} in the form"
    return match[1]


@pytest.mark.django_db(transaction=True)
def test_the_decision_page_refuses_evidence_changed_by_the_engine_and_asks_again(
    client, oncologist, nurse
):
    patient = positive_patient(oncologist)
    engine.run_for_patients([patient.id])
    alert = switch_alert_of(patient)
    client.force_login(oncologist)
    url = f"/alerts/{alert.id}/resolve/"
    form = client.get(url).content.decode()
    seen = {name: _hidden(form, name) for name in ("evidence_version", "seen_results")}
    assert seen == {"evidence_version": "1", "seen_results": str(alert.result_ids[0])}

    # Meanwhile: a nurse records a new positive result and the engine runs (both commit).
    newer = record_positive(nurse, patient, change="Y537S", vaf="1.2")
    engine.run_for_patients([patient.id])
    events_before = AlertEvent.objects.filter(pgh_obj_id=alert.pk).count()

    decision = {"decision": "repeat_test", "date": days(10).isoformat(), "note": "recheck"}
    response = client.post(url, {**seen, **decision})
    assert response.status_code == 409
    page = response.content.decode()
    assert "The evidence changed while you were deciding" in page
    assert "Nothing was saved" in page
    assert f"Result #{newer.id}, collected {days(-3).isoformat()}: ESR1 Y537S 1.2%" in page
    nothing_saved(alert, events_before=events_before)
    # Asked again on the current evidence: the decision is chosen again, the rest is kept.
    assert _hidden(page, "evidence_version") == "2"
    assert str(newer.id) in _hidden(page, "seen_results").split(",")
    assert re.search(r'value="repeat_test"[^>]*id="id_decision_\d+"', page)
    assert not re.search(r'name="decision"[^>]*checked', page)
    assert "recheck" in page

    again = {name: _hidden(page, name) for name in ("evidence_version", "seen_results")} | decision
    response = client.post(url, again)
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.decision) == ("resolved", "repeat_test")
    assert newer.id in alert.result_ids
    assert alert.decision_details["evidence_version"] == 2
    assert Draw.objects.get(patient=patient, status="planned").due_date == days(10)


@pytest.mark.django_db(transaction=True)
def test_a_decision_waits_for_an_engine_update_in_flight_and_is_then_refused(oncologist, nurse):
    """The alert row is locked while the version is compared and the decision written: an
    engine run that has updated the evidence but not yet committed makes the decision wait,
    and the decision then sees the new version instead of writing over it."""
    patient = positive_patient(oncologist)
    engine.run_for_patients([patient.id])
    alert = switch_alert_of(patient)
    record_positive(nurse, patient)
    updated, failures = threading.Event(), []

    def engine_run_held_open():
        try:
            with transaction.atomic():
                engine.run_for_patients([patient.id])
                updated.set()
                time.sleep(1.0)  # the decision arrives while this is uncommitted
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            failures.append(exc)
            updated.set()
        finally:
            connection.close()

    thread = threading.Thread(target=engine_run_held_open)
    thread.start()
    assert updated.wait(30)
    try:
        with pytest.raises(StaleEvidence):
            alert_resolve(
                actor=oncologist, alert=alert, evidence_version=1, decision="dismissed",
                note="artefact",
            )  # fmt: skip
    finally:
        thread.join()
    assert not failures
    alert.refresh_from_db()
    assert (alert.status, alert.evidence_version) == ("open", 2)

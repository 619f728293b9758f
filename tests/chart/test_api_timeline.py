from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from patients.models import PatientAccess
from surveillance.models import Alert, Draw
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/timeline/"


def alert_for(patient, raised_on=None, **fields) -> Alert:
    defaults = {
        "kind": "esr1_switch",
        "severity": "high",
        "title": "ESR1 D538G detected (VAF 0.8%)",
        "rationale": "Consider switching the AI to a SERD.",
        "evidence": {"result_ids": []},
        "policy_version": 1,
    }
    alert = Alert.objects.create(patient=patient, **{**defaults, **fields})
    if raised_on is not None:
        noon = datetime.combine(raised_on, time(12), tzinfo=timezone.get_current_timezone())
        Alert.objects.filter(pk=alert.pk).update(created_at=noon)
        alert.refresh_from_db()
    return alert


@pytest.fixture
def record():
    """A year of one patient's care: adjuvant AI, first line, a scan, draws, a result."""
    patient = PatientFactory(mrn="TL-1", given_name="Grace", family_name="Okafor")
    adjuvant = TreatmentFactory(
        patient=patient,
        setting="adjuvant",
        endocrine_therapy_id="anastrozole",
        cdk46_inhibitor_id=None,
        start_date=days(-900),
        end_date=days(-400),
        end_reason="completed",
    )
    first_line = TreatmentFactory(patient=patient, start_date=days(-100))
    scan = AssessmentFactory(patient=patient, date=days(-30), response="SD")
    visit = AppointmentFactory(patient=patient, date=days(14))
    result = ResultFactory(
        draw__patient=patient,
        draw__collected_on=days(-20),
        reported_on=days(-12),
        esr1_status="detected",
    )
    VariantFactory(result=result, vaf_percent=Decimal("0.8"))
    planned = DrawFactory(
        patient=patient, status="planned", due_date=days(14), collected_on=None, assay=""
    )
    alert = alert_for(patient, raised_on=days(-11))
    return {
        "patient": patient,
        "adjuvant": adjuvant,
        "first_line": first_line,
        "scan": scan,
        "visit": visit,
        "collected": result.draw,
        "result": result,
        "planned": planned,
        "alert": alert,
    }


def test_timeline_lists_every_event_in_date_order(api, nurse, record):
    response = api(nurse).get(url(record["patient"]))

    assert response.status_code == 200, response.json()
    events = [(e["type"], e["id"], e["date"]) for e in response.json()["events"]]
    assert events == [
        ("treatment", record["adjuvant"].pk, days(-900).isoformat()),
        ("treatment", record["first_line"].pk, days(-100).isoformat()),
        ("assessment", record["scan"].pk, days(-30).isoformat()),
        ("draw", record["collected"].pk, days(-20).isoformat()),
        ("result", record["result"].pk, days(-12).isoformat()),
        ("alert", record["alert"].pk, days(-11).isoformat()),
        ("appointment", record["visit"].pk, days(14).isoformat()),
        ("draw", record["planned"].pk, days(14).isoformat()),
    ]


def test_timeline_starts_with_a_patient_summary(api, nurse, record):
    patient = api(nurse).get(url(record["patient"])).json()["patient"]

    assert patient["id"] == record["patient"].pk
    assert (patient["mrn"], patient["family_name"]) == ("TL-1", "Okafor")
    assert patient["surveillance"]["reason"] == "not yet evaluated"


def by_type(response, kind) -> list[dict]:
    return [e for e in response.json()["events"] if e["type"] == kind]


def test_a_treatment_carries_its_end_and_drugs(api, nurse, record):
    adjuvant, first_line = by_type(api(nurse).get(url(record["patient"])), "treatment")

    assert adjuvant["end_date"] == days(-400).isoformat()
    assert adjuvant["end_reason"] == "completed"
    assert adjuvant["ongoing"] is False
    assert adjuvant["cdk46_inhibitor"] is None
    assert first_line["ongoing"] is True
    assert first_line["endocrine_therapy"]["code"] == "letrozole"
    assert first_line["cdk46_inhibitor"]["name"] == "Palbociclib"
    assert first_line["summary"] == "Line 1 metastatic: Letrozole + Palbociclib"


def test_a_result_carries_its_variants_and_esr1_status(api, nurse, record):
    (result,) = by_type(api(nurse).get(url(record["patient"])), "result")

    assert result["esr1_status"] == "detected"
    assert result["draw"] == record["collected"].pk
    assert result["collected_on"] == days(-20).isoformat()
    assert result["variants"] == [
        {
            "gene": "ESR1",
            "protein_change": "p.Asp538Gly",
            "short": "D538G",
            "vaf_percent": 0.8,
            "esr1_activating": True,
            "esr1_vus": False,
        }
    ]
    assert "D538G 0.8%" in result["summary"]


def test_planned_draw_sits_at_its_due_date(api, nurse, record):
    draws = by_type(api(nurse).get(url(record["patient"])), "draw")

    planned = next(d for d in draws if d["status"] == "planned")
    assert planned["date"] == planned["due_date"] == days(14).isoformat()
    assert planned["collected_on"] is None


def test_an_alert_shows_its_rationale(api, nurse, record):
    (alert,) = by_type(api(nurse).get(url(record["patient"])), "alert")

    assert alert["kind"] == "esr1_switch"
    assert alert["status"] == "open"
    assert alert["rationale"].startswith("Consider switching")
    assert alert["resolved_by"] is None


def test_an_empty_record(api, nurse):
    patient = PatientFactory()

    body = api(nurse).get(url(patient)).json()

    assert body["events"] == []


def test_viewing_the_timeline_is_logged(api, nurse, record):
    api(nurse).get(url(record["patient"]))

    access = PatientAccess.objects.get()
    assert (access.user, access.patient, access.view) == (nurse, record["patient"], "api:timeline")


def test_unknown_patient_is_404(api, nurse):
    assert api(nurse).get("/api/v1/patients/999999/timeline/").status_code == 404


def test_admin_and_anonymous_are_refused(api, admin_user, record):
    assert api(admin_user).get(url(record["patient"])).status_code == 403
    assert api().get(url(record["patient"])).status_code == 401


@pytest.mark.parametrize("size", [1, 10])
def test_timeline_runs_a_fixed_number_of_queries(api, nurse, django_assert_max_num_queries, size):
    patient = PatientFactory()
    for i in range(size):
        # One closed treatment a year, each ending 200 days after it starts: valid on any
        # "today", 31 December and 29 February included.
        start = days(-400 * (i + 1))
        TreatmentFactory(
            patient=patient,
            start_date=start,
            end_date=start + timedelta(days=200),
            end_reason="progression",
        )
        AssessmentFactory(patient=patient, date=start)
        AppointmentFactory(patient=patient, date=start)
        # One sample per patient, day and assay: each year's draw on its own day.
        VariantFactory(result__draw__patient=patient, result__draw__collected_on=start)
        alert_for(patient, kind="esr1_vus_review", severity="low", subject=f"result:{i}")
    Draw.objects.create(patient=patient, status="planned", due_date=days(10))
    client = api(nurse)

    with django_assert_max_num_queries(9):
        response = client.get(url(patient))

    assert len(response.json()["events"]) == size * 6 + 1


def test_schema_documents_the_timeline():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/patients/{id}/timeline/"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Timeline"
    }
    event = schema["components"]["schemas"]["TimelineEvent"]
    assert event["discriminator"]["propertyName"] == "type"
    assert set(event["discriminator"]["mapping"]) == {
        "treatment",
        "assessment",
        "appointment",
        "draw",
        "result",
        "alert",
    }

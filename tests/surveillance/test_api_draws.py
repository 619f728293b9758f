import pytest
from django.apps import apps
from rest_framework.test import APIClient

from patients.models import PendingEvaluation
from surveillance.models import Draw
from surveillance.services import records
from tests.factories import TODAY, DrawFactory, PatientFactory, ResultFactory, days

pytestmark = pytest.mark.django_db

URL = "/api/v1/draws/"


@pytest.fixture(autouse=True)
def _clinic_today(monkeypatch):
    monkeypatch.setattr(records, "clinic_today", lambda: TODAY)


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def patient(oncologist):
    return PatientFactory(oncologist=oncologist)


def planned_draw(patient, due=days(3)):
    return DrawFactory(
        patient=patient, status="planned", due_date=due, collected_on=None, assay="", accession=""
    )


def collect(user, patient, /, **extra):
    body = {
        "patient": patient.pk,
        "collected_on": str(TODAY),
        "assay": "guardant360_cdx",
        "accession": "G-1",
    } | extra
    return client_for(user).post(URL, body, format="json")


# --------------------------------------------------------------------------------------------
# Recording a collected draw
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["nurse", "oncologist"])
def test_clinicians_record_a_collected_draw(request, role, patient):
    user = request.getfixturevalue(role)
    response = collect(user, patient)

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["patient"] == patient.pk
    assert body["patient_mrn"] == patient.mrn
    assert body["status"] == "collected"
    assert body["collected_on"] == str(TODAY)
    assert body["assay"] == "guardant360_cdx"
    assert body["accession"] == "G-1"
    assert body["due_date"] is None
    assert body["result"] is None
    draw = Draw.objects.get(pk=body["id"])
    assert draw.status == "collected"
    event = apps.get_model("surveillance", "DrawEvent").objects.get(pgh_obj_id=draw.pk)
    assert event.pgh_context.metadata["user"] == user.pk
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_recording_fulfils_the_planned_draw(nurse, patient):
    planned = planned_draw(patient, due=days(-2))

    response = collect(nurse, patient)

    assert response.status_code == 201, response.data
    assert response.data["id"] == planned.pk
    assert response.data["due_date"] == str(days(-2))
    assert response.data["status"] == "collected"
    assert Draw.objects.filter(patient=patient).count() == 1


def test_recording_without_a_plan_creates_a_new_draw(nurse, patient):
    earlier = DrawFactory(patient=patient, status="resulted")
    response = collect(nurse, patient)
    assert response.status_code == 201
    assert response.data["id"] != earlier.pk
    assert Draw.objects.filter(patient=patient).count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"collected_on": str(days(1))}, "collected_on"),
        ({"collected_on": "15/06/2026"}, "collected_on"),
        ({"assay": "sanger"}, "assay"),
        ({"patient": 999999}, "patient"),
        ({"patient": None}, "patient"),
    ],
)
def test_invalid_draws_are_400_with_field_errors(nurse, patient, body, field):
    response = collect(nurse, patient, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Draw.objects.exists()


def test_duplicate_accession_is_a_clear_400(nurse, patient):
    DrawFactory(assay="guardant360_cdx", accession="G-1")
    response = collect(nurse, patient)
    assert response.status_code == 400
    message = response.json()["accession"][0]
    assert "G-1 is already recorded for a Guardant360 CDx sample" in message


def test_missing_fields_are_400(nurse):
    response = client_for(nurse).post(URL, {}, format="json")
    assert response.status_code == 400
    assert {"patient", "collected_on", "assay"} <= set(response.json())


# --------------------------------------------------------------------------------------------
# Cancelling
# --------------------------------------------------------------------------------------------


def test_cancel_a_mistaken_draw(nurse, patient):
    draw = DrawFactory(patient=patient, accession="G-7")
    response = client_for(nurse).post(f"{URL}{draw.pk}/cancel/", {"reason": "wrong patient"})

    assert response.status_code == 200, response.data
    assert response.data["status"] == "cancelled"
    assert response.data["cancel_reason"] == "wrong patient"
    draw.refresh_from_db()
    assert draw.status == "cancelled"


def test_cancel_needs_a_reason(nurse, patient):
    draw = DrawFactory(patient=patient)
    response = client_for(nurse).post(f"{URL}{draw.pk}/cancel/", {"reason": " "})
    assert response.status_code == 400
    assert "reason" in response.json()


def test_a_resulted_draw_cannot_be_cancelled(oncologist, patient):
    result = ResultFactory(draw__patient=patient)
    response = client_for(oncologist).post(f"{URL}{result.draw_id}/cancel/", {"reason": "mistake"})
    assert response.status_code == 400
    assert "has a result" in response.json()["non_field_errors"][0]
    result.draw.refresh_from_db()
    assert result.draw.status == "resulted"


def test_cancel_unknown_draw_is_404(nurse):
    response = client_for(nurse).post(f"{URL}999999/cancel/", {"reason": "mistake"})
    assert response.status_code == 404


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def test_list_and_detail(nurse, patient):
    draw = DrawFactory(patient=patient)
    result = ResultFactory(draw__patient=patient, draw__collected_on=days(-40))

    listing = client_for(nurse).get(URL)
    assert listing.status_code == 200
    body = listing.json()
    assert body["count"] == 2
    assert {"next", "previous", "results"} <= set(body)
    by_id = {row["id"]: row for row in body["results"]}
    assert by_id[draw.pk]["result"] is None
    assert by_id[result.draw_id]["result"] == result.pk

    detail = client_for(nurse).get(f"{URL}{draw.pk}/")
    assert detail.status_code == 200
    assert detail.json()["accession"] == draw.accession
    assert client_for(nurse).get(f"{URL}999999/").status_code == 404


def test_filters_by_patient_and_status(nurse, oncologist):
    mine, other = PatientFactory(oncologist=oncologist), PatientFactory(oncologist=oncologist)
    collected = DrawFactory(patient=mine)
    planned = planned_draw(mine)
    DrawFactory(patient=other)

    def ids(query):
        response = client_for(nurse).get(URL, query)
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids({"patient": mine.pk}) == {collected.pk, planned.pk}
    assert ids({"patient": mine.pk, "status": "planned"}) == {planned.pk}
    assert ids({"status": "collected"}) == {collected.pk, *ids({"patient": other.pk})}
    assert client_for(nurse).get(URL, {"status": "lost"}).status_code == 400


def test_list_query_count_is_constant(nurse, oncologist, django_assert_max_num_queries):
    def fetch():
        with django_assert_max_num_queries(3):
            response = client_for(nurse).get(URL)
        assert response.status_code == 200
        return response.json()["results"]

    for _ in range(3):
        ResultFactory(draw__patient=PatientFactory(oncologist=oncologist))
    assert len(fetch()) == 3
    for _ in range(47):
        DrawFactory(patient=PatientFactory(oncologist=oncologist))
    assert len(fetch()) == 50


# --------------------------------------------------------------------------------------------
# Who may do what
# --------------------------------------------------------------------------------------------


def test_admin_has_no_access_to_draws(admin_user, patient):
    draw = DrawFactory(patient=patient)
    client = client_for(admin_user)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{draw.pk}/").status_code == 403
    assert collect(admin_user, patient, accession="G-2").status_code == 403
    assert client.post(f"{URL}{draw.pk}/cancel/", {"reason": "x"}).status_code == 403
    draw.refresh_from_db()
    assert draw.status == "collected"


def test_anonymous_gets_401(patient):
    draw = DrawFactory(patient=patient)
    client = client_for()
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}{draw.pk}/").status_code == 401
    assert collect(None, patient, accession="G-2").status_code == 401
    assert client.post(f"{URL}{draw.pk}/cancel/", {"reason": "x"}).status_code == 401


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_draws_are_not_edited_or_deleted(oncologist, patient, method):
    draw = DrawFactory(patient=patient, accession="G-9")
    response = getattr(client_for(oncologist), method)(
        f"{URL}{draw.pk}/", {"accession": "G-10"}, format="json"
    )
    assert response.status_code in (403, 405)
    draw.refresh_from_db()
    assert draw.accession == "G-9"

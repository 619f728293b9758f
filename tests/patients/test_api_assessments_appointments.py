import pytest

from patients.models import Appointment, Assessment, PendingEvaluation
from tests.factories import (
    TODAY,
    AppointmentFactory,
    AssessmentFactory,
    PatientFactory,
    days,
)

pytestmark = pytest.mark.django_db

ASSESSMENTS = "/api/v1/assessments/"
APPOINTMENTS = "/api/v1/appointments/"


@pytest.fixture
def patient():
    return PatientFactory()


# --- Assessments ------------------------------------------------------------------------------


def scan(patient, **overrides) -> dict:
    payload = {"patient": patient.pk, "date": days(-2).isoformat(), "modality": "ct"}
    return {**payload, "response": "SD", **overrides}


def test_oncologist_records_an_assessment(api, oncologist, patient):
    response = api(oncologist).post(ASSESSMENTS, scan(patient, note="stable"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("patient", "date", "modality", "response", "note")} == {
        "patient": patient.pk,
        "date": days(-2).isoformat(),
        "modality": "ct",
        "response": "SD",
        "note": "stable",
    }
    assert Assessment.objects.filter(patient=patient).count() == 1
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_progression_can_be_recorded_today(api, oncologist, patient):
    response = api(oncologist).post(
        ASSESSMENTS, scan(patient, date=TODAY.isoformat(), response="PD"), format="json"
    )

    assert response.status_code == 201


def test_an_assessment_cannot_be_in_the_future(api, oncologist, patient):
    response = api(oncologist).post(
        ASSESSMENTS, scan(patient, date=days(1).isoformat()), format="json"
    )

    assert response.status_code == 400
    assert "imaging appointment" in response.json()["date"][0]
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("modality", "xray"), ("response", "progressed")])
def test_assessment_choices_are_checked(api, oncologist, patient, field, value):
    response = api(oncologist).post(ASSESSMENTS, scan(patient, **{field: value}), format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_correcting_an_assessment(api, oncologist, patient):
    assessment = AssessmentFactory(patient=patient, response="SD")

    response = api(oncologist).patch(
        f"{ASSESSMENTS}{assessment.pk}/", {"response": "PD"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assessment.refresh_from_db()
    assert assessment.response == "PD"


def test_patching_an_assessment_into_the_future_is_refused(api, oncologist, patient):
    assessment = AssessmentFactory(patient=patient)

    response = api(oncologist).patch(
        f"{ASSESSMENTS}{assessment.pk}/", {"date": days(5).isoformat()}, format="json"
    )

    assert response.status_code == 400
    assessment.refresh_from_db()
    assert assessment.date == days(-10)


def test_nurse_reads_but_cannot_record_assessments(api, nurse, patient):
    assessment = AssessmentFactory(patient=patient)
    client = api(nurse)

    assert client.get(ASSESSMENTS).status_code == 200
    assert client.get(f"{ASSESSMENTS}{assessment.pk}/").status_code == 200
    assert client.post(ASSESSMENTS, scan(patient), format="json").status_code == 403
    response = client.patch(f"{ASSESSMENTS}{assessment.pk}/", {"response": "PD"}, format="json")
    assert response.status_code == 403


def test_filter_assessments_by_patient(api, nurse, patient):
    mine = AssessmentFactory(patient=patient)
    AssessmentFactory()

    body = api(nurse).get(ASSESSMENTS, {"patient": patient.pk}).json()

    assert [a["id"] for a in body["results"]] == [mine.pk]


# --- Appointments -----------------------------------------------------------------------------


def visit(patient, **overrides) -> dict:
    return {"patient": patient.pk, "date": days(21).isoformat(), "kind": "clinic", **overrides}


@pytest.mark.parametrize("role", ["nurse", "oncologist"])
def test_nurses_and_oncologists_book_appointments(api, request, patient, role):
    user = request.getfixturevalue(role)

    response = api(user).post(APPOINTMENTS, visit(patient, note="cycle 4"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["date"], body["kind"], body["note"]) == (days(21).isoformat(), "clinic", "cycle 4")
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_a_past_appointment_can_be_recorded(api, nurse, patient):
    response = api(nurse).post(APPOINTMENTS, visit(patient, date=days(-7).isoformat()))

    assert response.status_code == 201


def test_appointment_up_to_two_years_ahead(api, nurse, patient):
    response = api(nurse).post(APPOINTMENTS, visit(patient, date=days(730).isoformat()))

    assert response.status_code == 201


def test_appointment_more_than_two_years_ahead_is_a_typo(api, nurse, patient):
    response = api(nurse).post(APPOINTMENTS, visit(patient, date=days(731).isoformat()))

    assert response.status_code == 400
    assert "Check the year" in response.json()["date"][0]
    assert not Appointment.objects.exists()


def test_unknown_appointment_kind(api, nurse, patient):
    response = api(nurse).post(APPOINTMENTS, visit(patient, kind="phone"))

    assert response.status_code == 400
    assert "kind" in response.json()


def test_nurse_reschedules_an_appointment(api, nurse, patient):
    appointment = AppointmentFactory(patient=patient, date=days(10))

    response = api(nurse).patch(
        f"{APPOINTMENTS}{appointment.pk}/", {"date": days(12).isoformat()}, format="json"
    )

    assert response.status_code == 200, response.json()
    appointment.refresh_from_db()
    assert appointment.date == days(12)


def test_an_appointment_cannot_move_to_another_patient(api, nurse, patient):
    appointment = AppointmentFactory(patient=patient)

    response = api(nurse).patch(
        f"{APPOINTMENTS}{appointment.pk}/", {"patient": PatientFactory().pk}, format="json"
    )

    assert response.status_code == 400
    assert "patient" in response.json()


def test_filter_appointments_by_patient(api, nurse, patient):
    mine = AppointmentFactory(patient=patient)
    AppointmentFactory()

    body = api(nurse).get(APPOINTMENTS, {"patient": patient.pk}).json()

    assert [a["id"] for a in body["results"]] == [mine.pk]


def test_filter_by_a_patient_id_that_is_not_a_number(api, nurse):
    assert api(nurse).get(APPOINTMENTS, {"patient": "abc"}).status_code == 400


# --- Both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [ASSESSMENTS, APPOINTMENTS])
def test_admin_has_no_access(api, admin_user, patient, url):
    assert api(admin_user).get(url).status_code == 403
    payload = visit(patient) if url == APPOINTMENTS else scan(patient)
    assert api(admin_user).post(url, payload, format="json").status_code == 403


@pytest.mark.parametrize("url", [ASSESSMENTS, APPOINTMENTS])
def test_anonymous_gets_401(api, url):
    assert api().get(url).status_code == 401


@pytest.mark.parametrize(
    ("url", "factory", "model"),
    [(ASSESSMENTS, AssessmentFactory, Assessment), (APPOINTMENTS, AppointmentFactory, Appointment)],
)
def test_nothing_is_deleted(api, oncologist, url, factory, model):
    record = factory()

    assert api(oncologist).delete(f"{url}{record.pk}/").status_code in (403, 405)
    assert model.objects.filter(pk=record.pk).exists()


@pytest.mark.parametrize("count", [3, 50])
@pytest.mark.parametrize(
    ("url", "factory"), [(ASSESSMENTS, AssessmentFactory), (APPOINTMENTS, AppointmentFactory)]
)
def test_lists_run_a_fixed_number_of_queries(
    api, nurse, django_assert_max_num_queries, url, factory, count
):
    factory.create_batch(count)
    client = api(nurse)

    with django_assert_max_num_queries(3):  # count, page, one INSERT logging the reads
        response = client.get(url)

    assert response.json()["count"] == count

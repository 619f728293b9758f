"""Every change to clinical data is attributable to a user; every view of a record is logged."""

import pytest

from patients import services
from patients.models import PatientAccess, Treatment
from tests.factories import AppointmentFactory, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def test_a_patch_through_the_api_is_in_the_patients_history_with_the_user(api, oncologist):
    patient = PatientFactory(status="active")

    response = api(oncologist).patch(
        f"/api/v1/patients/{patient.pk}/", {"status": "deceased"}, format="json"
    )

    assert response.status_code == 200
    update = patient.events.order_by("pgh_id").last()
    assert update.pgh_label == "update"
    assert update.status == "deceased"
    assert update.pgh_context.metadata["user"] == oncologist.pk


def test_a_treatment_recorded_through_the_api_names_its_author(api, oncologist):
    patient = PatientFactory()

    response = api(oncologist).post(
        "/api/v1/treatments/",
        {
            "patient": patient.pk,
            "line_number": 1,
            "endocrine_therapy": "anastrozole",
            "cdk46_inhibitor": "ribociclib",
            "start_date": days(-3).isoformat(),
        },
        format="json",
    )

    assert response.status_code == 201
    treatment = Treatment.objects.get(pk=response.json()["id"])
    (insert,) = treatment.events.all()
    assert insert.pgh_label == "insert"
    assert insert.pgh_context.metadata["user"] == oncologist.pk


def test_a_nurse_rescheduling_is_attributed_to_the_nurse(api, nurse):
    appointment = AppointmentFactory(date=days(10))

    api(nurse).patch(
        f"/api/v1/appointments/{appointment.pk}/", {"date": days(11).isoformat()}, format="json"
    )

    update = appointment.events.order_by("pgh_id").last()
    assert update.date == days(11)
    assert update.pgh_context.metadata["user"] == nurse.pk


def test_a_service_called_outside_a_request_still_names_the_user(oncologist):
    """Celery tasks and commands have no HistoryMiddleware; the service sets the context."""
    treatment = TreatmentFactory(start_date=days(-90))

    services.treatment_update(
        actor=oncologist, treatment=treatment, end_date=days(-1), end_reason="progression"
    )

    update = treatment.events.order_by("pgh_id").last()
    assert (update.end_date, update.end_reason) == (days(-1), "progression")
    assert update.pgh_context.metadata["user"] == oncologist.pk


def test_a_rejected_change_leaves_no_history(api, oncologist):
    patient = PatientFactory()

    response = api(oncologist).patch(
        f"/api/v1/patients/{patient.pk}/", {"birth_date": days(5).isoformat()}, format="json"
    )

    assert response.status_code == 400
    assert list(patient.events.values_list("pgh_label", flat=True)) == ["insert"]


def test_reading_a_patient_logs_who_and_where(api, nurse, oncologist):
    patient = PatientFactory()

    api(nurse).get(f"/api/v1/patients/{patient.pk}/")
    api(oncologist).get(f"/api/v1/patients/{patient.pk}/timeline/")

    log = PatientAccess.objects.order_by("at", "id").values_list("user", "patient", "view")
    assert list(log) == [
        (nurse.pk, patient.pk, "api:patient_detail"),
        (oncologist.pk, patient.pk, "api:timeline"),
    ]


def test_a_refused_read_is_not_logged_as_a_view(api, admin_user):
    patient = PatientFactory()

    api(admin_user).get(f"/api/v1/patients/{patient.pk}/")

    assert not PatientAccess.objects.exists()


def test_superuser_viewing_a_patient_in_the_admin_is_logged(client, django_user_model):
    superuser = django_user_model.objects.create_superuser(
        "root", "root@example.org", "a-long-test-passphrase", role="admin"
    )
    patient = PatientFactory()
    client.force_login(superuser)

    response = client.get(f"/admin/patients/patient/{patient.pk}/change/")

    assert response.status_code == 200
    access = PatientAccess.objects.get()
    assert (access.user, access.view) == (superuser, "admin:patient")

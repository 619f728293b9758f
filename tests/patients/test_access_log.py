"""Every read of patient data is logged, one row per patient and request, whichever way it
is read (SPEC section 1); administrators read the log at /api/v1/access-log/."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from patients.models import AuditTrailRead, PatientAccess
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    PatientFactory,
    TreatmentFactory,
    days,
)

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _log():
    return sorted(PatientAccess.objects.values_list("user__username", "patient_id", "view", "path"))


@pytest.mark.parametrize(
    ("url", "factory", "action"),
    [
        ("/api/v1/treatments/", TreatmentFactory, "treatment"),
        ("/api/v1/assessments/", AssessmentFactory, "assessment"),
        ("/api/v1/appointments/", AppointmentFactory, "appointment"),
    ],
)
def test_api_lists_and_details_log_each_patient_once(nurse, url, factory, action):
    ann, bea = PatientFactory(), PatientFactory()
    records = [factory(patient=ann), factory(patient=bea)]
    if factory is not TreatmentFactory:  # one metastatic treatment at a time
        records.insert(0, factory(patient=ann))
    client = client_for(nurse)

    assert client.get(url).status_code == 200
    assert _log() == sorted(
        [("nurse", ann.pk, f"api:{action}_list", url), ("nurse", bea.pk, f"api:{action}_list", url)]
    )
    assert client.get(f"{url}{records[-1].pk}/").status_code == 200
    assert ("nurse", bea.pk, f"api:{action}_detail", f"{url}{records[-1].pk}/") in _log()


def test_a_filtered_list_logs_only_the_patients_it_showed(nurse):
    ann, bea = PatientFactory(), PatientFactory()
    TreatmentFactory(patient=ann)
    TreatmentFactory(patient=bea)

    client_for(nurse).get("/api/v1/treatments/", {"patient": bea.pk})

    assert [row[1] for row in _log()] == [bea.pk]


def test_a_refused_or_failed_read_logs_nothing(nurse, admin_user):
    patient = PatientFactory()
    TreatmentFactory(patient=patient)

    client_for(admin_user).get("/api/v1/treatments/")
    client_for(nurse).get("/api/v1/treatments/", {"patient": "not-a-number"})
    client_for(nurse).get("/api/v1/treatments/999999/")

    assert _log() == []


def test_a_write_is_not_logged_as_a_read(oncologist):
    patient = PatientFactory()
    body = {"patient": patient.pk, "date": days(5).isoformat(), "kind": "clinic"}

    assert client_for(oncologist).post("/api/v1/appointments/", body).status_code == 201
    assert _log() == []


def test_the_patient_list_page_logs_its_page_in_one_insert_whatever_its_length(
    client, nurse, django_assert_max_num_queries
):
    client.force_login(nurse)
    # Search asks once per process which indexes it can use (patients/search.py).
    client.get("/patients/", {"search": "warm-up"})
    counts = []
    for count in (3, 25):
        before = PatientAccess.objects.count()
        patients = PatientFactory.create_batch(count, family_name=f"Pagelisted{count}")
        with django_assert_max_num_queries(12) as captured:
            response = client.get("/patients/", {"search": f"pagelisted{count}"})
        assert response.status_code == 200
        inserts = [q for q in captured.captured_queries if "patients_patientaccess" in q["sql"]]
        assert len(inserts) == 1
        assert PatientAccess.objects.count() - before == count
        ids = {p.pk for p in patients}
        assert [row for row in _log() if row[1] in ids] == sorted(
            ("nurse", pk, "page:patient_list", "/patients/") for pk in ids
        )
        counts.append(len(captured.captured_queries))

    assert counts[0] == counts[1]


def test_forms_opened_with_get_are_logged_but_their_posts_are_not(client, oncologist):
    patient = PatientFactory()
    client.force_login(oncologist)

    for name in ("patient-edit", "treatment-create", "assessment-create", "appointment-create"):
        assert client.get(reverse(name, args=[patient.pk])).status_code == 200
    assert client.get(reverse("draw-create", args=[patient.pk])).status_code in (200, 403)

    views = {row[2] for row in _log()}
    assert views >= {"page:record_form"}
    assert {row[1] for row in _log()} == {patient.pk}


def test_the_access_log_api_lists_filters_and_pages_for_admins(admin_user, nurse, oncologist):
    ann, bea = PatientFactory(mrn="LOG-1"), PatientFactory(mrn="LOG-2")
    client_for(nurse).get(f"/api/v1/patients/{ann.pk}/")
    client_for(oncologist).get(f"/api/v1/patients/{bea.pk}/timeline/")
    admin = client_for(admin_user)

    body = admin.get("/api/v1/access-log/").json()

    assert body["count"] == 2 and "next" in body and "previous" in body
    first = body["results"][0]
    assert set(first) == {"at", "user", "patient", "mrn", "action", "path"}
    assert (first["user"], first["patient"], first["mrn"], first["action"]) == (
        "onc",
        bea.pk,
        "LOG-2",
        "api:timeline",
    )
    by_patient = admin.get("/api/v1/access-log/", {"patient": ann.pk}).json()["results"]
    assert [(r["user"], r["path"]) for r in by_patient] == [
        ("nurse", f"/api/v1/patients/{ann.pk}/")
    ]
    assert [
        r["user"] for r in admin.get("/api/v1/access-log/", {"user": "onc"}).json()["results"]
    ] == ["onc"]
    assert admin.get("/api/v1/access-log/", {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert AuditTrailRead.objects.filter(user=admin_user, view="api:access-log").count() == 4


@pytest.mark.parametrize(
    "query", [{"patient": "abc"}, {"since": "yesterday"}, {"since": "2026-13-45T00:00"}]
)
def test_a_bad_access_log_filter_is_a_400(admin_user, query):
    response = client_for(admin_user).get("/api/v1/access-log/", query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


def test_a_superuser_listing_clinical_records_in_the_admin_is_logged(client, django_user_model):
    root = django_user_model.objects.create_superuser(
        "root", "root@example.org", "a-long-test-passphrase", role="admin"
    )
    ann, bea = PatientFactory(), PatientFactory()
    AppointmentFactory(patient=bea)
    client.force_login(root)

    assert client.get("/admin/patients/patient/").status_code == 200
    assert client.get("/admin/patients/appointment/").status_code == 200

    assert _log() == sorted(
        [
            ("root", ann.pk, "admin:patient_list", "/admin/patients/patient/"),
            ("root", bea.pk, "admin:patient_list", "/admin/patients/patient/"),
            ("root", bea.pk, "admin:appointment_list", "/admin/patients/appointment/"),
        ]
    )

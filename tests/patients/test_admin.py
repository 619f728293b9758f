"""The Django admin: administrators keep the drug notes and read the access log; clinical
records are not theirs (SPEC section 1) and are read-only for everyone here."""

import pytest

from patients.models import Drug, Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def superuser_client(client, django_user_model):
    root = django_user_model.objects.create_superuser(
        "root", "root@example.org", "a-long-test-passphrase", role="admin"
    )
    client.force_login(root)
    return client


@pytest.mark.parametrize("model", ["patient", "treatment", "assessment", "appointment"])
def test_administrators_do_not_see_clinical_records(admin_client, model):
    assert admin_client.get(f"/admin/patients/{model}/").status_code == 403


def test_administrator_edits_a_drug_status_note_only(admin_client):
    url = "/admin/patients/drug/camizestrant/change/"

    response = admin_client.post(
        url, {"status_note": "Approved in the EU.", "name": "Renamed", "drug_class": "ai"}
    )

    assert response.status_code == 302
    drug = Drug.objects.get(code="camizestrant")
    assert drug.status_note == "Approved in the EU."
    assert (drug.name, drug.drug_class) == ("Camizestrant", "serd")


def test_drugs_are_neither_added_nor_deleted_in_the_admin(admin_client):
    assert admin_client.get("/admin/patients/drug/add/").status_code == 403
    assert admin_client.get("/admin/patients/drug/letrozole/delete/").status_code == 403


def test_administrator_reads_the_access_log_but_cannot_change_it(admin_client, api, nurse):
    patient = PatientFactory(mrn="LOG-1")
    api(nurse).get(f"/api/v1/patients/{patient.pk}/")

    listing = admin_client.get("/admin/patients/patientaccess/")

    assert listing.status_code == 200
    assert "LOG-1" in listing.content.decode()
    assert admin_client.get("/admin/patients/patientaccess/add/").status_code == 403


def test_superuser_views_but_cannot_change_clinical_records(superuser_client):
    patient = PatientFactory(given_name="Grace")
    url = f"/admin/patients/patient/{patient.pk}/change/"

    assert superuser_client.get("/admin/patients/patient/?q=grace").status_code == 200
    assert superuser_client.get(url).status_code == 200
    superuser_client.post(url, {"given_name": "Changed"})
    assert Patient.objects.get(pk=patient.pk).given_name == "Grace"
    assert superuser_client.get("/admin/patients/patient/add/").status_code == 403

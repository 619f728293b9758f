"""patients.views: the record forms (patient, treatment, assessment, appointment)."""

import pytest

from patients.models import Treatment
from tests.factories import PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def treatment_form(**overrides) -> dict:
    data = {
        "line_number": 1,
        "setting": "metastatic",
        "endocrine_therapy": "letrozole",
        "cdk46_inhibitor": "ribociclib",
        "start_date": days(-3).isoformat(),
    }
    return {**data, **overrides}


@pytest.mark.parametrize("line_number", [100, 32768, 99999999999])
def test_a_line_number_out_of_range_is_a_form_error_not_a_server_error(
    client, oncologist, line_number
):
    patient = PatientFactory(oncologist=oncologist)
    client.force_login(oncologist)

    response = client.post(
        f"/patients/{patient.id}/treatments/new/", treatment_form(line_number=line_number)
    )

    assert response.status_code == 200
    assert response.context["form"].errors["line_number"] == [
        "Ensure this value is less than or equal to 99."
    ]
    assert not Treatment.objects.filter(patient=patient).exists()


def test_the_highest_line_number_is_accepted(client, oncologist):
    patient = PatientFactory(oncologist=oncologist)
    client.force_login(oncologist)

    response = client.post(
        f"/patients/{patient.id}/treatments/new/",
        treatment_form(line_number=99, endocrine_therapy="fulvestrant"),
    )

    assert response.status_code == 302, response.context["form"].errors
    assert Treatment.objects.get(patient=patient).line_number == 99


def test_editing_a_treatment_to_an_out_of_range_line_is_a_form_error(client, oncologist):
    patient = PatientFactory(oncologist=oncologist)
    treatment = TreatmentFactory(patient=patient, start_date=days(-30))
    client.force_login(oncologist)

    response = client.post(
        f"/patients/{patient.id}/treatments/{treatment.id}/edit/",
        treatment_form(line_number=40000, start_date=treatment.start_date.isoformat()),
    )

    assert response.status_code == 200
    assert "line_number" in response.context["form"].errors
    treatment.refresh_from_db()
    assert treatment.line_number == 1

"""A variant a laboratory reported without a VAF shows as such on the chart, never as 0%."""

import pytest

from tests.factories import PatientFactory, ResultFactory, TreatmentFactory, VariantFactory, days

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    patient = PatientFactory()
    TreatmentFactory(patient=patient, start_date=days(-100))
    result = ResultFactory(
        draw__patient=patient, draw__collected_on=days(-20), reported_on=days(-12),
        esr1_status="detected",
    )  # fmt: skip
    VariantFactory(result=result, vaf_percent=None)
    return patient


def test_timeline_api_gives_a_null_vaf_and_says_it_was_not_reported(api, nurse, patient):
    body = api(nurse).get(f"/api/v1/patients/{patient.pk}/timeline/").json()
    (result,) = [e for e in body["events"] if e["type"] == "result"]
    assert result["variants"][0]["vaf_percent"] is None
    assert "D538G VAF not reported" in result["summary"]


def test_patient_page_shows_the_variant_without_a_vaf(client, nurse, patient):
    client.force_login(nurse)
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "D538G (VAF not reported)" in html
    assert "None%" not in html

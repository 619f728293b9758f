"""chart.views: what the patient page hands the timeline picture."""

import pytest

from chart.selectors import patient_page
from chart.views import numbered_draws, timeline_data
from tests.factories import TODAY, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def test_only_a_first_line_ai_with_cdk46_regimen_is_drawn_as_the_surveillance_treatment():
    patient = PatientFactory()
    regimens = {
        "adjuvant AI": TreatmentFactory(
            patient=patient, setting="adjuvant", endocrine_therapy_id="anastrozole",
            cdk46_inhibitor_id=None, start_date=days(-1500), end_date=days(-1000),
            end_reason="completed",
        ),
        "first line": TreatmentFactory(
            patient=patient, start_date=days(-900), end_date=days(-600), end_reason="esr1_switch"
        ),
        "first line, SERD": TreatmentFactory(
            patient=patient, endocrine_therapy_id="camizestrant", start_date=days(-600),
            end_date=days(-300), end_reason="progression",
        ),
        "second line": TreatmentFactory(
            patient=patient, line_number=2, endocrine_therapy_id="exemestane",
            cdk46_inhibitor_id="abemaciclib", start_date=days(-300),
        ),
    }  # fmt: skip

    data = patient_page(patient=patient)
    picture = timeline_data(
        patient=patient, data=data, draws=numbered_draws(data["draws"]), today=TODAY
    )

    by_id = {bar.id: bar.is_surveillance for bar in picture.treatments}
    assert {name: by_id[t.id] for name, t in regimens.items()} == {
        "adjuvant AI": False,
        "first line": True,
        "first line, SERD": False,
        "second line": False,
    }

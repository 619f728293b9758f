"""patients.selectors: who sees which records."""

import pytest

from patients.selectors import records_visible_to
from surveillance import engine
from surveillance.models import Alert, Draw
from tests.factories import PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def test_records_visible_to_leaves_clinicians_unfiltered_and_gives_admins_nothing(
    oncologist, nurse, admin_user
):
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-100))
    engine.run_all()
    draws = Draw.objects.filter(patient=patient)
    for clinician in (oncologist, nurse):
        visible = records_visible_to(clinician, draws)
        assert list(visible) == list(draws)
        # Every patient is visible: no join against the patient table for nothing.
        assert "patients_patient" not in str(visible.query)
    assert not records_visible_to(admin_user, draws).exists()
    assert not records_visible_to(admin_user, Alert.objects.all(), patient="patient").exists()

"""The printable patient summary: the results table, the timeline picture, open alerts and
decisions, for those who may read the patient; the read is logged like the patient page."""

import pytest

from patients.models import PatientAccess
from tests.chart.summary_patient import patient_with_history
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(oncologist, nurse, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return patient_with_history(oncologist=oncologist, nurse=nurse)


def test_the_summary_holds_results_picture_alerts_and_decisions(client, nurse, patient):
    client.force_login(nurse)
    html = client.get(f"/patients/{patient.id}/summary/").content.decode()
    assert f"MRN {patient.mrn}" in html
    assert "<svg" in html and "Treatment and ctDNA timeline of" in html
    assert "ESR1 D538G (0.4%)" in html and "ESR1 Y537S (1.3%)" in html  # results table
    assert "Y537S" in html.split('id="open-h"')[1].split('id="decisions-h"')[0]  # open alert
    decisions = html.split('id="decisions-h"')[1]
    assert "Deferred" in decisions and "repeat at the next visit" in decisions
    # Nothing from another host: no absolute URL in any src or href.
    assert (
        'src="http' not in html
        and 'href="http' not in html
        and "//" not in "".join(part.split('"')[0] for part in html.split('src="')[1:])
    )


def test_the_patient_page_links_the_summary(client, nurse, patient):
    client.force_login(nurse)
    html = client.get(f"/patients/{patient.id}/").content.decode()
    assert f'href="/patients/{patient.id}/summary/"' in html


def test_reading_the_summary_is_logged(client, nurse, patient):
    client.force_login(nurse)
    client.get(f"/patients/{patient.id}/summary/")
    access = PatientAccess.objects.filter(patient=patient, view="page:patient_summary")
    assert list(access.values_list("user", flat=True)) == [nurse.id]


def test_who_may_not_read_the_patient_gets_no_summary(client, admin_user, patient):
    client.force_login(admin_user)  # administrators manage the system, not the records
    assert client.get(f"/patients/{patient.id}/summary/").status_code == 403
    client.force_login(UserFactory(username="lab.system", role="interface"))
    assert client.get(f"/patients/{patient.id}/summary/").status_code in (302, 403)
    client.logout()
    assert client.get(f"/patients/{patient.id}/summary/").status_code == 302
    assert not PatientAccess.objects.filter(view="page:patient_summary").exists()

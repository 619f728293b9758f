"""The main journey in a real browser: a nurse enters an ESR1-positive result, the
oncologist finds the alert at the top of her worklist and switches the patient to a SERD."""

import re
import time

import pytest

from surveillance import engine
from surveillance.models import Alert, SurveillanceState
from tests.conftest import PASSWORD
from tests.factories import TODAY, AssessmentFactory, PatientFactory, TreatmentFactory, days


def wait_until(predicate, timeout=20.0, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def sign_in(page, base, username):
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login/"))


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_nurse_result_to_oncologist_switch(
    browser, live_server, celery_worker_process, screenshots, nurse, oncologist
):
    patient = PatientFactory(
        oncologist=oncologist, given_name="Maria", family_name="Lindqvist", mrn="MRN-JOURNEY",
        enrolled_on=days(-120),
    )  # fmt: skip
    TreatmentFactory(patient=patient, start_date=days(-70))
    # A recent scan without progression: what a switch rests on.
    AssessmentFactory(patient=patient, date=days(-10), response="SD")
    engine.run_for_patients([patient.id])  # plans the first draw (due day -14: overdue)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # --- The nurse records the draw and the result ---------------------------------------
    sign_in(page, base, "nurse")
    screenshots(page, "nurse-worklist")
    overdue = page.locator(
        "section", has=page.get_by_role("heading", name=re.compile("Overdue draws"))
    )
    overdue.get_by_role("link", name="Record draw").click()
    page.get_by_label("Assay").select_option("guardant360_cdx")
    page.get_by_label("Accession").fill("G360-JOURNEY-1")
    screenshots(page, "nurse-draw-form")
    page.get_by_role("button", name="Record draw").click()
    page.wait_for_url(f"{base}/patients/{patient.id}/")
    page.get_by_role("link", name="Enter result").click()
    page.get_by_label("Status").select_option("final")
    page.locator("#id_variants-0-protein_change").fill("D538G")
    page.locator("#id_variants-0-vaf_percent").fill("0.7")
    page.get_by_role("button", name="Add another variant").click()
    page.locator("#id_variants-1-gene").wait_for()
    page.locator("#id_variants-1-gene").fill("PIK3CA")
    page.locator("#id_variants-1-protein_change").fill("H1047R")
    page.locator("#id_variants-1-vaf_percent").fill("8")
    screenshots(page, "nurse-result-form")
    page.get_by_role("button", name="Save result").click()
    page.wait_for_url(f"{base}/patients/{patient.id}/")
    screenshots(page, "nurse-after-result")

    # The alert is raised by the worker within seconds, with no manual run.
    assert wait_until(
        lambda: Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()
    ), "no ESR1 switch alert within 20 s"
    sign_out(page)

    # --- The oncologist finds it at the top of her worklist ------------------------------
    sign_in(page, base, "onc")
    first_row = page.locator("table.worklist tbody tr").first
    assert "Lindqvist" in first_row.inner_text()
    assert "D538G (0.7%)" in first_row.inner_text()
    screenshots(page, "oncologist-worklist")
    first_row.get_by_role("link", name=re.compile("Lindqvist")).click()
    page.wait_for_url(f"{base}/patients/{patient.id}/")
    point = page.locator("svg .tl-point[data-vaf]").first
    assert float(point.get_attribute("data-vaf")) == pytest.approx(0.7)
    assert page.locator("svg .tl-draw-detected[data-number]").count() == 1
    screenshots(page, "oncologist-patient-timeline")

    # --- ...and switches the aromatase inhibitor to camizestrant -------------------------
    page.get_by_role("link", name="Decide").first.click()
    page.get_by_label("Switched to a SERD").check()
    page.get_by_label("Switch date").fill(TODAY.isoformat())
    page.get_by_label("New SERD").select_option("camizestrant")
    screenshots(page, "oncologist-decision")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_url(f"{base}/patients/{patient.id}/")
    assert "Camizestrant" in page.locator("#treatments-h + .table-wrap").inner_text()

    # Surveillance ends once the engine has seen the switch (on commit, via the worker).
    assert wait_until(lambda: SurveillanceState.objects.get(patient=patient).reason == "on a SERD")
    page.reload()
    assert "on a SERD" in page.locator(".summary-grid").inner_text()
    assert page.locator("svg .tl-end-esr1_switch").count() == 1
    screenshots(page, "oncologist-after-switch")
    context.close()

"""A decision on evidence that changed, in a real browser: the oncologist opens the decision
form, a new positive result arrives and the engine adds it to the alert, her decision is
refused with what changed, and she decides again on the current evidence."""

import re

import pytest

from surveillance import engine
from surveillance.models import Alert, Draw
from surveillance.services import draw_record, result_record
from tests.browser.test_journey import sign_in
from tests.factories import (
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_decision_on_changed_evidence_is_refused_and_made_again(
    browser, live_server, screenshots, nurse, oncologist
):
    patient = PatientFactory(
        oncologist=oncologist, given_name="Ines", family_name="Moreau", mrn="MRN-STALE",
        enrolled_on=days(-200),
    )  # fmt: skip
    TreatmentFactory(patient=patient, start_date=days(-150))
    AssessmentFactory(patient=patient, date=days(-20), response="SD")
    first = DrawFactory(patient=patient, status="resulted", collected_on=days(-30))
    VariantFactory(result=ResultFactory(draw=first, reported_on=days(-24), esr1_status="detected"))
    engine.run_for_patients([patient.id])
    alert = Alert.objects.get(patient=patient, kind="esr1_switch", status="open")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))

    # --- The oncologist opens the decision form -----------------------------------------
    sign_in(page, base, "onc")
    row = page.locator("table.worklist tbody tr", has_text="Moreau")
    assert f"Last scan: CT {days(-20).isoformat()}, stable disease, 20 days ago" in (
        row.inner_text()
    )
    row.get_by_role("link", name="Decide").click()
    page.wait_for_url(f"{base}/alerts/{alert.id}/resolve/")
    assert "evidence version 1" in page.locator(".alert-evidence").inner_text()
    page.get_by_label("Deferred").check()
    page.get_by_label("Note").fill("Discuss at the tumour board on Thursday.")
    screenshots(page, "decision-form")

    # --- Meanwhile a new positive result is recorded and the engine runs -----------------
    draw = draw_record(
        actor=nurse, patient=patient, collected_on=days(-2), assay="guardant360_cdx",
        accession="G360-STALE-2",
    )  # fmt: skip
    newer = result_record(
        actor=nurse, draw=draw, reported_on=days(-1), status="final",
        variants=[{"gene": "ESR1", "protein_change": "Y537S", "vaf_percent": "3.1"}],
    )  # fmt: skip
    engine.run_for_patients([patient.id])

    # --- Her decision is refused, and the page says what changed -------------------------
    page.get_by_role("button", name="Record decision").click()
    notice = page.locator("#evidence-changed")
    notice.wait_for()
    text = notice.inner_text()
    assert "The evidence changed while you were deciding" in text
    assert "Nothing was saved" in text
    assert f"Result #{newer.id}, collected {days(-2).isoformat()}: ESR1 Y537S 3.1%" in text
    assert "now version 2" in text
    assert page.locator("tr.evidence-new", has_text="Y537S").count() == 1
    alert.refresh_from_db()
    assert (alert.status, alert.evidence_version) == ("open", 2)
    screenshots(page, "evidence-changed")

    # --- She decides again, on what she now sees -----------------------------------------
    assert not page.get_by_label("Deferred").is_checked()
    assert page.get_by_label("Note").input_value() == "Discuss at the tumour board on Thursday."
    page.get_by_label("Repeat the test").check()
    page.get_by_label("Repeat draw date").fill(days(14).isoformat())
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_url(f"{base}/patients/{patient.id}/")
    assert re.search("Decision recorded", page.content())
    past = page.locator("#past-alerts-h + .table-wrap").inner_text()
    assert f"repeat on {days(14).isoformat()}" in past
    screenshots(page, "decided-again")

    alert.refresh_from_db()
    assert (alert.status, alert.decision) == ("resolved", "repeat_test")
    assert alert.decision_details["evidence_version"] == 2
    assert newer.id in alert.result_ids
    assert Draw.objects.get(patient=patient, status="planned").due_date == days(14)
    assert not [m for m in console if "Content Security Policy" in m], console
    context.close()

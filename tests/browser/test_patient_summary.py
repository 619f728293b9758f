"""The patient summary in Chromium: on paper (print media) only the summary shows, and
Chromium's own print to PDF holds the patient's results, alerts and decisions as text,
with the timeline picture; nothing is loaded from another host and the CSP holds."""

import io

import pytest
from pypdf import PdfReader

from tests.chart.summary_patient import patient_with_history
from tests.security.test_csp import PageWatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_summary_prints_to_a_pdf_with_the_results(
    browser, live_server, oncologist, nurse, screenshots, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        patient = patient_with_history(oncologist=oncologist, nurse=nurse)
    watch = PageWatch(browser, live_server.url, oncologist)
    page = watch.visit(f"/patients/{patient.id}/", wait_for="svg")
    page.get_by_role("link", name="Summary to print").click()
    page.wait_for_load_state("networkidle")
    watch.current = page.url
    assert page.get_by_role("heading", level=1).inner_text().startswith("ctDNA surveillance")
    assert page.get_by_role("button", name="Print").is_visible()  # shown by the static script
    picture = page.locator(".summary-timeline svg")
    assert picture.count() == 1 and picture.is_visible()

    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Print").is_visible()
    assert not page.get_by_role("link", name="Back to the patient").is_visible()
    assert not page.locator(".topbar").first.is_visible()
    assert page.locator("#summary-results").is_visible()
    screenshots(page, "print")
    pdf = page.pdf(format="A4", print_background=False)
    watch.settle()

    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(p.extract_text() for p in reader.pages)
    words = " ".join(text.split())
    assert f"MRN {patient.mrn}" in words
    for shown in ("D538G", "Y537S", "Blood draws and ctDNA results", "Open alerts", "Deferred",
                  "repeat at the next visit", "Timeline"):  # fmt: skip
        assert shown in words, shown
    # The timeline is drawn as vector graphics: its axis labels are text in the PDF too.
    assert "Treatment and ctDNA timeline" in words or "ctDNA" in words
    assert "Record draw" not in words  # the patient page's buttons are not on it
    assert watch.problems == [], "\n".join(watch.problems)
    watch.close()

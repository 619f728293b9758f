"""The laboratory inbox and the CSV upload in a real browser, under the real
Content-Security-Policy: a report the laboratory sent with a mistyped MRN waits with its raw
text, and a nurse records it on the patient's draw in two clicks; a CSV batch is previewed
(what each row will do, nothing saved) and saved only once confirmed."""

from datetime import date

import pytest

from accounts.roles import Role
from accounts.services import user_create
from imports.models import ImportMessage, ImportReport
from imports.services import import_message
from surveillance.models import Draw, Result
from tests.browser.test_journey import sign_in
from tests.factories import DrawFactory, PatientFactory, days
from tests.imports.hl7 import oru


def _watch(page) -> list[str]:
    """Console errors and uncaught page errors (a CSP refusal is a console error)."""
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_nurse_records_an_unmatched_report_on_the_patients_draw_in_two_clicks(
    browser, live_server, screenshots, nurse
):
    patient = PatientFactory(
        given_name="Rosa", family_name="Lindqvist", mrn="MRN-4471", birth_date=date(1958, 6, 2)
    )
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-9), accession="")
    lab = user_create(username="lab-guardant", role=Role.INTERFACE, password=None)
    # The laboratory typed the MRN with a letter O for the zero.
    sent = import_message(
        actor=lab,
        fmt="hl7v2",
        raw=oru(
            control_id="GH-20931",
            mrn="MRN-44O7",
            birth_date=date(1958, 6, 2),
            accession="GH-77120",
            collected_on=days(-9),
            reported_on=days(-2),
            variants=(("ESR1", "NP_000116.2:p.Tyr537Ser", "2.4"),),
        ),
    )
    assert sent.state == "unmatched"
    assert not Result.objects.exists()

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = _watch(page)
    sign_in(page, base, "nurse")

    # --- The inbox shows what waits, and why ------------------------------------------------
    page.get_by_role("link", name="Lab inbox").click()
    page.wait_for_url(f"{base}/imports/")
    row = page.locator("tbody tr", has_text="MRN-44O7")
    assert "No patient has MRN MRN-44O7" in row.inner_text()
    assert "GH-77120" in row.inner_text()
    screenshots(page, "inbox")
    row.get_by_role("link").click()
    page.wait_for_url(f"{base}/imports/{sent.pk}/")

    # --- The message, with its raw text as the laboratory sent it -----------------------------
    raw = page.locator("pre.raw").inner_text()
    assert raw.splitlines()[0].startswith("MSH|^~\\&|GH_LIS|GUARDANT|")
    assert "PID|1||MRN-44O7^^^CLINIC^MR" in raw
    assert "NP_000116.2:p.Tyr537Ser" in raw
    report_id = sent.reports.get().pk
    report_card = page.locator(f"#report-{report_id}").inner_text()
    assert "ESR1 NP_000116.2:p.Tyr537Ser (2.4%)" in report_card
    screenshots(page, "message")

    # --- Two clicks: find the patient, record on the draw ------------------------------------
    page.get_by_label("Patient's MRN").fill("MRN-4471")
    page.get_by_role("button", name="Find patient").click()  # 1
    chosen = page.locator("form", has_text="Lindqvist, Rosa")
    assert "born 1958-06-02" in chosen.inner_text()
    assert page.get_by_label(f"Draw {draw.pk}, collected {days(-9).isoformat()}").is_checked()
    screenshots(page, "patient-found")
    page.get_by_role("button", name="Record on this draw").click()  # 2
    page.get_by_text("Report recorded on draw").wait_for()

    result = Result.objects.get()
    assert page.url.startswith(f"{base}/imports/{sent.pk}/")
    assert page.get_by_text(
        f"Report recorded on draw {draw.pk} of {patient} as result {result.pk}."
    ).is_visible()
    settled = page.locator(f"#report-{report_id}").inner_text()
    assert "Imported" in settled and "Matched by hand by nurse." in settled
    assert f"Recorded as result {result.pk} on draw {draw.pk}." in settled
    screenshots(page, "recorded")

    assert result.draw_id == draw.pk and result.source == "hl7v2"
    assert [(v.gene, v.short) for v in result.variants.all()] == [("ESR1", "Y537S")]
    report = ImportReport.objects.get()
    assert (report.state, report.settled_by, report.result) == ("imported", nurse, result)
    draw.refresh_from_db()
    assert draw.status == "resulted"

    # --- Nothing is left waiting -------------------------------------------------------------
    page.get_by_role("link", name="Laboratory inbox").click()
    page.wait_for_url(f"{base}/imports/")
    assert page.get_by_text("Nothing is waiting.").is_visible()

    assert problems == []
    context.close()


CSV = (
    "mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent\n"
    "MRN-5120,F1L-3301,{collected},{reported},final,ESR1,p.Asp538Gly,1.7\n"
    "MRN-5120,F1L-3301,{collected},{reported},final,PIK3CA,p.His1047Arg,6.2\n"
    "MRN-9999,F1L-3302,{collected},{reported},final,,,\n"
    "MRN-6230,F1L-3303,{collected},{reported},final,ESR1,p.Tyr537Ser,0.9\n"
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_csv_batch_is_previewed_row_by_row_and_saved_only_when_confirmed(
    browser, live_server, screenshots, nurse
):
    patient = PatientFactory(given_name="Amal", family_name="Haddad", mrn="MRN-5120")
    draw = DrawFactory(
        patient=patient, status="collected", collected_on=days(-6),
        assay="foundationone_liquid_cdx", accession="F1L-3301",
    )  # fmt: skip
    # Known, but no draw of that day on record: the import records one from the report.
    newcomer = PatientFactory(given_name="Tomas", family_name="Berg", mrn="MRN-6230")
    batch = CSV.format(collected=days(-6).isoformat(), reported=days(-1).isoformat())

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = _watch(page)
    sign_in(page, base, "nurse")
    page.goto(f"{base}/imports/")
    page.get_by_role("link", name="Upload a CSV batch").click()
    page.wait_for_url(f"{base}/imports/upload/")

    # --- The preview says what each report will do, and saves nothing ------------------------
    page.get_by_label("or paste the rows").fill(batch)
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("heading", name="Preview: nothing is saved yet").wait_for()
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    matched = rows.filter(has_text="MRN-5120").inner_text()
    assert "imported" in matched
    assert "Haddad" in matched
    assert f"draw {draw.pk}, collected {days(-6).isoformat()}" in matched
    assert "ESR1 p.Asp538Gly (1.7%), PIK3CA p.His1047Arg (6.2%)" in matched
    waiting = rows.filter(has_text="MRN-9999").inner_text()
    assert "unmatched" in waiting and "No patient has MRN MRN-9999" in waiting
    recorded_from_report = rows.filter(has_text="MRN-6230").inner_text()
    assert "imported" in recorded_from_report and "Berg" in recorded_from_report
    assert f"a new draw collected {days(-6).isoformat()}" in recorded_from_report
    screenshots(page, "preview")
    assert not ImportMessage.objects.exists()
    assert not Result.objects.exists()
    assert Draw.objects.get(pk=draw.pk).status == "collected"
    assert not Draw.objects.filter(patient=newcomer).exists()

    # --- Confirmed: saved, as previewed ---------------------------------------------------------
    page.get_by_role("button", name="Import these reports").click()
    page.wait_for_url(f"{base}/imports/*/")
    message = ImportMessage.objects.get()
    assert page.url == f"{base}/imports/{message.pk}/"
    assert page.get_by_text("Batch imported: 1 unmatched, 2 imported.").is_visible()
    screenshots(page, "imported")
    assert (message.format, message.channel, message.sender) == ("csv", "upload", nurse)
    result = Result.objects.get(draw=draw)
    assert sorted(v.short for v in result.variants.all()) == ["D538G", "H1047R"]
    made = Draw.objects.get(patient=newcomer)
    assert (made.status, made.collected_on) == ("resulted", days(-6))
    assert [v.short for v in made.result.variants.all()] == ["Y537S"]
    assert sorted(message.reports.values_list("mrn", "state")) == [
        ("MRN-5120", "imported"),
        ("MRN-6230", "imported"),
        ("MRN-9999", "unmatched"),
    ]

    assert problems == []
    context.close()

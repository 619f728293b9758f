"""The nurses' pages: the inbox, a message with its raw text and the match/reject forms,
and the CSV upload with a preview that saves nothing."""

from datetime import date

import pytest

from imports.models import ImportMessage
from imports.parsers import ParsedMessage, ParsedReport, ParsedVariant
from imports.services import import_parsed
from surveillance.models import Draw, Result
from tests.factories import DrawFactory, PatientFactory, days
from tests.two_step import force_login_verified

pytestmark = pytest.mark.django_db
CSV_HEADER = "mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent\n"


@pytest.fixture
def client_nurse(client, nurse):
    force_login_verified(client, nurse)
    return client


def unmatched(lab, mrn="TYPO") -> ImportMessage:
    report = ParsedReport(
        source_format="hl7v2",
        report_id="R-9",
        status="final",
        mrn=mrn,
        birth_date=None,
        accession="ACC-9",
        collected_on=days(-10),
        reported_on=days(-1),
        assay="",
        variants=(ParsedVariant("ESR1", "p.Tyr537Ser", None),),
    )
    return import_parsed(
        actor=lab, fmt="hl7v2", text="MSH|^~\\&|LAB\rPID|1", parsed=ParsedMessage((report,))
    )


def test_the_inbox_lists_what_waits_and_the_message_shows_its_raw_text(client_nurse, lab):
    message = unmatched(lab)

    inbox = client_nurse.get("/imports/")
    assert inbox.status_code == 200
    assert b"TYPO" in inbox.content and b"No patient has MRN TYPO" in inbox.content

    page = client_nurse.get(f"/imports/{message.pk}/")
    assert page.status_code == 200
    assert b"MSH|^~\\&amp;|LAB\nPID|1" in page.content


def test_a_nurse_finds_the_patient_and_records_the_report_on_a_draw(client_nurse, lab):
    message = unmatched(lab)
    report = message.reports.get()
    patient = PatientFactory(mrn="MRN-7", birth_date=date(1960, 3, 1))
    draw = DrawFactory(patient=patient, collected_on=days(-10), accession="")

    found = client_nurse.get(f"/imports/{message.pk}/", {"mrn": "MRN-7"})
    assert f'value="{draw.pk}"'.encode() in found.content

    response = client_nurse.post(
        f"/imports/{message.pk}/", {"report": report.pk, "patient": patient.pk, "draw": draw.pk}
    )

    assert response.status_code == 302
    assert Result.objects.get().draw == draw


def test_a_nurse_rejects_a_report_and_must_say_why(client_nurse, lab):
    message = unmatched(lab)
    report = message.reports.get()

    refused = client_nurse.post(f"/imports/{message.pk}/", {"report": report.pk, "reject": "1"})
    assert refused.status_code == 400 and b"Say why" in refused.content

    client_nurse.post(
        f"/imports/{message.pk}/", {"report": report.pk, "reject": "1", "reason": "duplicate tube"}
    )
    report.refresh_from_db()
    assert report.state == "rejected"


def test_the_csv_preview_shows_each_report_and_saves_nothing(client_nurse):
    patient = PatientFactory(mrn="MRN-A", given_name="Ines", family_name="Okafor")
    rows = (
        f"MRN-A,ACC-1,{days(-12)},{days(-2)},final,ESR1,p.D538G,0.7\n"
        f"NOBODY,ACC-2,{days(-12)},{days(-2)},final,,,\n"
    )

    preview = client_nurse.post("/imports/upload/", {"content": CSV_HEADER + rows, "preview": "1"})

    assert preview.status_code == 200
    text = preview.content.decode()
    assert "Okafor, Ines" in text and "a new draw collected" in text and "ESR1 p.D538G" in text
    assert "No patient has MRN NOBODY" in text
    assert not Draw.objects.exists() and not ImportMessage.objects.exists()

    confirmed = client_nurse.post(
        "/imports/upload/", {"content": CSV_HEADER + rows, "confirm": "1"}
    )

    assert confirmed.status_code == 302
    assert Result.objects.get().draw.patient == patient
    assert ImportMessage.objects.get().channel == "upload"


def test_an_unreadable_upload_says_why(client_nurse):
    response = client_nurse.post("/imports/upload/", {"content": "a,b\n1,2\n", "preview": "1"})

    assert response.status_code == 400
    assert b"errorlist" in response.content


def test_administrators_do_not_see_the_inbox(client, admin_user):
    force_login_verified(client, admin_user)
    assert client.get("/imports/").status_code == 403
    assert client.get("/imports/upload/").status_code == 403


def test_the_patient_page_shows_a_superseded_result_in_the_draws_history(client_nurse, lab):
    patient = PatientFactory(mrn="MRN-H", birth_date=date(1960, 3, 1))
    first = ParsedReport(
        source_format="fhir",
        report_id="R-H",
        status="final",
        mrn="MRN-H",
        birth_date=None,
        accession="ACC-H",
        collected_on=days(-10),
        reported_on=days(-3),
        assay="",
        variants=(ParsedVariant("ESR1", "p.Asp538Gly", None),),
        content_hash="a",
    )
    corrected = ParsedReport(**{**first.__dict__, "status": "corrected", "variants": (),
                                "content_hash": "b"})  # fmt: skip
    for report in (first, corrected):
        import_parsed(actor=lab, fmt="fhir", text="{}", parsed=ParsedMessage((report,)))
    earlier = Result.objects.exclude(draw__isnull=False).get()

    page = client_nurse.get(f"/patients/{patient.pk}/").content.decode()

    assert f"a corrected report replaced result {earlier.pk}" in page
    assert "ESR1 D538G" in page

"""What the evidence means, on the ESR1 alert's worklist row, its decision form and the patient
page: each variant's course since first detection, and the context to weigh, for the right
patients and not for the others; without a query per alert or per result."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Drug
from surveillance import engine
from surveillance.models import Alert, AssayProfile
from tests.factories import (
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db

SERENA6_TIME = "SERENA-6 enrolled patients after at least 6 months on first-line AI"
SERENA6_AI = "SERENA-6 used letrozole or anastrozole"
BELOW_LIMIT = "below the assay&#x27;s stated limit of reliable detection"
PROTEIN = {"D538G": "p.Asp538Gly", "Y537S": "p.Tyr537Ser", "A593D": "p.Ala593Asp"}
VUS = "A593D"  # an ESR1 variant off the activating list


def patient_with(oncologist, *results, start=-300, therapy="letrozole", assay="guardant360_cdx"):
    """A patient on first-line `therapy` + palbociclib since `start`, with a final result per
    (collected day, {short: vaf}) in `results`."""
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(start), endocrine_therapy_id=therapy)
    for collected, variants in results:
        draw = DrawFactory(
            patient=patient, status="resulted", collected_on=days(collected), assay=assay
        )
        detected = "detected" if set(variants) - {VUS} else "not_detected"
        result = ResultFactory(draw=draw, reported_on=days(collected + 4), esr1_status=detected)
        for short, vaf in variants.items():
            VariantFactory(
                result=result,
                short=short,
                protein_change=PROTEIN[short],
                vaf_percent=Decimal(vaf),
                esr1_activating=short != VUS,
                esr1_vus=short == VUS,
            )
    return patient


def pages(client, patient) -> dict[str, str]:
    """The patient page, the decision form and the worklist row of the patient's ESR1 alert."""
    alert = Alert.objects.get(patient=patient, kind="esr1_switch", status="open")
    client.force_login(patient.oncologist)
    home = client.get("/").content.decode()
    row = home[home.index(f'id="alert-{alert.id}"') :]
    return {
        "patient page": client.get(f"/patients/{patient.id}/").content.decode(),
        "decision form": client.get(f"/alerts/{alert.id}/resolve/").content.decode(),
        "worklist row": row[: row.index("</tr>")],
    }


def test_the_course_since_first_detection_on_every_page(client, oncologist):
    rising = patient_with(oncologist, (-100, {"D538G": "0.4"}), (-30, {"D538G": "1.2"}))
    single = patient_with(oncologist, (-30, {"D538G": "0.4"}))
    engine.run_all()

    course = f"D538G: 0.4% on {days(-100)}, 1.2% on {days(-30)} (rising, still detected)"
    for where, html in pages(client, rising).items():
        assert course in html, where
    for where, html in pages(client, single).items():
        assert f"D538G: 0.4% on {days(-30)} (no later result yet)" in html, where
        assert "rising" not in html, where


def test_a_later_result_without_the_variant_shows_as_not_detected(client, oncologist):
    patient = patient_with(
        oncologist, (-100, {"D538G": "0.5", "Y537S": "0.9"}), (-40, {"Y537S": "0.3"})
    )
    engine.run_all()
    for where, html in pages(client, patient).items():
        assert (
            f"D538G: 0.5% on {days(-100)}, not detected on {days(-40)}"
            " (not detected in the latest result)"
        ) in html, where
        assert f"Y537S: 0.9% on {days(-100)}, 0.3% on {days(-40)} (falling, still detected)" in (
            html
        ), where


def test_detection_before_six_months_on_first_line_is_pointed_out(client, oncologist):
    at_181 = patient_with(oncologist, (-10, {"D538G": "0.5"}), start=-191)
    at_182 = patient_with(oncologist, (-10, {"D538G": "0.5"}), start=-192)
    engine.run_all()
    for where, html in pages(client, at_181).items():
        assert "181 days after first-line therapy started" in html, where
        assert SERENA6_TIME in html, where
    for where, html in pages(client, at_182).items():
        assert SERENA6_TIME not in html, where


def test_exemestane_is_pointed_out(client, oncologist):
    exemestane = patient_with(oncologist, (-10, {"D538G": "0.5"}), therapy="exemestane")
    anastrozole = patient_with(oncologist, (-10, {"D538G": "0.5"}), therapy="anastrozole")
    engine.run_all()
    for where, html in pages(client, exemestane).items():
        assert f"The aromatase inhibitor is exemestane: {SERENA6_AI}." in html, where
    for where, html in pages(client, anastrozole).items():
        assert SERENA6_AI not in html, where


def test_a_vaf_below_the_assays_limit_suggests_confirmation(client, oncologist):
    low = patient_with(oncologist, (-10, {"D538G": "0.15"}))  # Guardant360 CDx: 0.2 to start
    at_limit = patient_with(oncologist, (-10, {"D538G": "0.2"}))
    engine.run_all()
    for where, html in pages(client, low).items():
        assert BELOW_LIMIT in html and "consider confirming it, e.g. by ddPCR" in html, where
        assert "a starting value not yet confirmed by the lab" in html, where
    for where, html in pages(client, at_limit).items():
        assert BELOW_LIMIT not in html, where

    # The admins keep the limit: the laboratory's validated figure decides.
    AssayProfile.objects.filter(code="guardant360_cdx").update(
        limit_of_detection_pct=Decimal("0.25"), limit_confirmed=True
    )
    for where, html in pages(client, at_limit).items():
        assert BELOW_LIMIT in html and "whose stated limit is 0.25%)" in html, where


def test_nothing_to_weigh_says_nothing(client, oncologist):
    patient = patient_with(oncologist, (-10, {"D538G": "2.5"}))
    engine.run_all()
    for where, html in pages(client, patient).items():
        assert "To weigh" not in html and 'class="weigh"' not in html, where


def test_where_camizestrant_is_named_its_catalogue_note_goes_with_it(client, oncologist):
    switch = patient_with(oncologist, (-10, {"D538G": "0.5"}))
    late = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=late, start_date=days(-100))  # a draw overdue alert only
    engine.run_all()
    Drug.objects.filter(code="camizestrant").update(status_note="Approved in the EU, 2026.")

    note = "<strong>Camizestrant</strong>: Approved in the EU, 2026."
    found = pages(client, switch)
    for where in ("patient page", "decision form"):
        assert "camizestrant in SERENA-6" in found[where] and note in found[where], where
    html = client.get(f"/patients/{late.id}/").content.decode()
    assert Alert.objects.filter(patient=late, status="open").exists()
    assert "Approved in the EU, 2026." not in html


def esr1_patients(oncologist, n: int) -> None:
    for i in range(n):
        patient_with(
            oncologist,
            (-200, {"D538G": "0.1"}),
            (-100, {"D538G": "0.3", "Y537S": "0.1"}),
            (-10, {"Y537S": "0.4"}),
            start=-300 + i,
            therapy="exemestane" if i % 2 else "letrozole",
            assay="foundationone_liquid_cdx",
        )
    engine.run_all()


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_worklist_does_not_query_per_alert_or_result(client, oncologist):
    client.force_login(oncologist)
    esr1_patients(oncologist, 2)
    client.get("/")  # the session's first request writes what later ones only update
    few = queries(client, "/")
    esr1_patients(oncologist, 12)
    assert queries(client, "/") == few
    assert Alert.objects.filter(kind="esr1_switch").count() == 14


def test_the_patient_page_does_not_query_per_alert_or_result(client, oncologist):
    # An ESR1 switch alert and a review alert per result listing a variant to review.
    few, many = (
        patient_with(
            oncologist,
            (-250, {"D538G": "0.3"}),
            *[(-200 + 20 * i, {VUS: "0.5"}) for i in range(n)],
        )
        for n in (1, 8)
    )
    engine.run_all()
    assert Alert.objects.filter(patient=many, kind="esr1_vus_review").count() == 8
    client.force_login(oncologist)
    client.get(f"/patients/{few.id}/")
    assert queries(client, f"/patients/{few.id}/") == queries(client, f"/patients/{many.id}/")

"""What an ESR1 alert's evidence means (surveillance/evidence.py), at its boundaries.

Pure: plain data in, sentences out, with a fixed date like the rules' tests."""

from datetime import date, timedelta

import pytest

from surveillance.evidence import (
    SERENA6_MIN_DAYS_ON_FIRST_LINE,
    DetectionLimit,
    Measurement,
    context_notes,
    drugs_named,
    read_alert,
    variant_course,
)

START = date(2026, 1, 5)  # first-line AI + CDK4/6 inhibitor started
GUARDANT = "guardant360_cdx"
LIMITS = {
    GUARDANT: DetectionLimit("Guardant360 CDx", 0.2, confirmed=False),
    "foundationone_liquid_cdx": DetectionLimit("FoundationOne Liquid CDx", 0.4, confirmed=True),
    "ddpcr_esr1": DetectionLimit("ESR1 ddPCR", 0.1, confirmed=True),
    "other": DetectionLimit("Other assay", None),
}


def on(day: int) -> date:
    """The day `day` days after the treatment started."""
    return START + timedelta(days=day)


def result(day: int, assay: str = GUARDANT, result_id: int = 0, **variants) -> Measurement:
    return Measurement(on(day), assay, variants, result_id or day)


def course(short, *measurements, since=START):
    return variant_course(short, measurements, since=since)


# --- the course of one variant -----------------------------------------------------------------


def test_a_first_detection_alone_has_no_later_result_yet():
    c = course("D538G", result(200, D538G=0.4))
    assert (c.status, c.trend) == ("first_only", None)
    assert c.text == f"D538G: 0.4% on {on(200)} (no later result yet)"


@pytest.mark.parametrize(
    ("later", "trend"), [(1.2, "rising"), (0.3, "falling"), (0.4, "unchanged")]
)
def test_the_trend_compares_the_latest_detection_with_the_one_before(later, trend):
    c = course("D538G", result(200, D538G=0.4), result(263, D538G=later))
    assert (c.status, c.trend) == ("still_detected", trend)
    assert c.text == f"D538G: 0.4% on {on(200)}, {later}% on {on(263)} ({trend}, still detected)"


def test_the_trend_is_from_the_previous_detection_not_the_first():
    c = course("D538G", result(200, D538G=0.4), result(260, D538G=2.0), result(320, D538G=1.1))
    assert c.trend == "falling"


def test_a_later_result_without_the_variant_is_not_detected_for_it():
    c = course("D538G", result(200, D538G=0.4), result(263, D538G=1.2), result(320, Y537S=0.5))
    assert (c.status, c.trend) == ("not_detected", None)
    assert c.text == (
        f"D538G: 0.4% on {on(200)}, 1.2% on {on(263)}, not detected on {on(320)}"
        " (not detected in the latest result)"
    )


def test_several_results_without_the_variant_say_since_when():
    c = course("D538G", result(200, D538G=0.4), result(260), result(320))
    assert c.text.endswith(f"(not detected in the last 2 results, since {on(260)})")


def test_detected_again_after_a_result_without_it():
    c = course("D538G", result(200, D538G=0.4), result(260), result(320, D538G=0.9))
    assert (c.status, c.trend) == ("detected_again", "rising")
    assert c.text.endswith("(rising, detected again)")


def test_a_vaf_not_reported_is_said_and_gives_no_trend():
    c = course("D538G", result(200, D538G=0.4), result(263, D538G=None))
    assert (c.status, c.trend) == ("still_detected", None)
    assert c.text == (
        f"D538G: 0.4% on {on(200)}, detected (VAF not reported) on {on(263)} (still detected)"
    )


def test_results_before_the_first_detection_and_before_the_treatment_are_left_out():
    c = course(
        "D538G",
        result(-30, D538G=5.0),  # before this treatment
        result(100),  # not yet there
        result(200, D538G=0.4),
    )
    assert c.first_detected_on == on(200)
    assert c.text == f"D538G: 0.4% on {on(200)} (no later result yet)"


def test_results_are_read_in_collection_order_whatever_order_they_come_in():
    c = course("D538G", result(263, D538G=1.2), result(200, D538G=0.4))
    assert c.trend == "rising"


def test_a_variant_never_detected_since_the_start_has_no_course():
    assert course("D538G", result(200, Y537S=0.4)) is None


def test_a_long_course_shows_its_first_and_latest_results():
    results = [result(100 + 30 * i, D538G=0.1 * (i + 1)) for i in range(8)]
    c = course("D538G", *results)
    assert c.text == (
        f"D538G: 0.1% on {on(100)}, 4 more results, 0.6% on {on(250)}, 0.7% on {on(280)},"
        f" 0.8% on {on(310)} (rising, still detected)"
    )
    assert len(c.points) == 8


def test_several_variants_each_get_their_course_in_the_alerts_order():
    measurements = [result(200, D538G=0.4), result(263, D538G=1.2, Y537S=0.3)]
    reading = read_alert(
        kind="esr1_switch",
        shorts=["Y537S", "D538G", "Y537S"],
        measurements=measurements,
        treatment_start=START,
        endocrine_therapy="letrozole",
        limits={},
    )
    assert [c.text for c in reading.courses] == [
        f"Y537S: 0.3% on {on(263)} (no later result yet)",
        f"D538G: 0.4% on {on(200)}, 1.2% on {on(263)} (rising, still detected)",
    ]


# --- context to weigh --------------------------------------------------------------------------


def notes(*measurements, kind="esr1_switch", shorts=("D538G",), therapy="letrozole", **kw):
    reading = read_alert(
        kind=kind,
        shorts=shorts,
        measurements=measurements,
        treatment_start=kw.get("start", START),
        endocrine_therapy=therapy,
        limits=kw.get("limits", LIMITS),
    )
    return reading.notes


def test_six_months_is_182_days():
    assert SERENA6_MIN_DAYS_ON_FIRST_LINE == 182


def test_a_detection_at_181_days_on_first_line_is_before_six_months():
    (note,) = notes(result(181, D538G=0.5))
    assert note == (
        f"First detected on {on(181)}, 181 days after first-line therapy started on {START}:"
        " less than 6 months. SERENA-6 enrolled patients after at least 6 months on first-line"
        " AI + CDK4/6 inhibitor."
    )


def test_a_detection_at_182_days_is_not():
    assert notes(result(182, D538G=0.5)) == ()


def test_the_earliest_detection_of_the_alerts_variants_decides():
    measurements = [result(150, Y537S=0.5), result(240, D538G=0.5, Y537S=0.7)]
    found = notes(*measurements, shorts=("D538G", "Y537S"))
    assert len(found) == 1 and "150 days" in found[0]


def test_exemestane_is_not_what_serena6_used():
    assert notes(result(200, D538G=0.5), therapy="exemestane") == (
        "The aromatase inhibitor is exemestane: SERENA-6 used letrozole or anastrozole.",
    )


@pytest.mark.parametrize("therapy", ["letrozole", "anastrozole", None])
def test_letrozole_and_anastrozole_say_nothing(therapy):
    assert notes(result(200, D538G=0.5), therapy=therapy) == ()


def test_the_serena6_notes_go_with_the_switch_alert_only():
    early_on_exemestane = result(100, D538G=0.5)
    assert notes(early_on_exemestane, kind="esr1_at_progression", therapy="exemestane") == ()
    assert len(notes(early_on_exemestane, kind="esr1_switch", therapy="exemestane")) == 2


def test_a_vaf_below_the_assays_limit_suggests_confirmation():
    (note,) = notes(result(200, D538G=0.15))
    assert note == (
        f"D538G was found below the assay's stated limit of reliable detection (0.15% on"
        f" {on(200)} by Guardant360 CDx, whose stated limit is 0.2%, a starting value not yet"
        " confirmed by the lab): consider confirming it, e.g. by ddPCR."
    )


def test_a_vaf_equal_to_the_limit_counts_as_reliable():
    assert notes(result(200, D538G=0.2)) == ()
    assert notes(result(200, "foundationone_liquid_cdx", D538G=0.4)) == ()


def test_a_confirmed_limit_is_not_called_a_starting_value():
    (note,) = notes(result(200, "foundationone_liquid_cdx", D538G=0.39))
    assert "whose stated limit is 0.4%)" in note and "starting value" not in note


def test_one_detection_at_or_above_the_limit_confirms_the_variant():
    assert notes(result(200, D538G=0.1), result(260, D538G=0.25)) == ()
    (note,) = notes(result(200, D538G=0.1), result(260, D538G=0.15))
    assert f"0.1% on {on(200)}" in note and f"0.15% on {on(260)}" in note


def test_below_the_ddpcr_limit_asks_for_a_fresh_sample_not_ddpcr():
    (note,) = notes(result(200, "ddpcr_esr1", D538G=0.05))
    assert note.endswith("consider confirming it on a fresh sample.")


@pytest.mark.parametrize("assay", ["other", "unknown_assay"])
def test_no_limit_known_no_note(assay):
    assert notes(result(200, assay, D538G=0.01)) == ()


def test_a_vaf_not_reported_is_not_called_below_the_limit():
    assert notes(result(200, D538G=None)) == ()


def test_the_limit_note_goes_with_every_esr1_alert_kind():
    for kind in ("esr1_switch", "esr1_at_progression", "esr1_vus_review"):
        assert len(notes(result(200, D538G=0.1), kind=kind)) == 1, kind


def test_each_variant_below_its_limit_gets_its_own_note():
    found = context_notes(
        kind="esr1_at_progression",
        courses=[
            course("D538G", result(200, D538G=0.1, Y537S=0.1)),
            course("Y537S", result(200, D538G=0.1, Y537S=0.1)),
        ],
        treatment_start=START,
        endocrine_therapy="letrozole",
        limits=LIMITS,
    )
    assert [n.split(" ")[0] for n in found] == ["D538G", "Y537S"]


# --- drugs named ---------------------------------------------------------------------------------


CATALOGUE = {
    "camizestrant": ("Camizestrant", "Investigational oral SERD."),
    "fulvestrant": ("Fulvestrant", "Approved SERD (intramuscular)."),
}


def test_a_drug_named_by_code_or_name_brings_its_note():
    text = "Consider switching to a SERD (camizestrant in SERENA-6)."
    assert drugs_named(text, CATALOGUE) == (("Camizestrant", "Investigational oral SERD."),)
    assert drugs_named("CAMIZESTRANT and Fulvestrant", CATALOGUE) == tuple(CATALOGUE.values())


def test_only_whole_words_count():
    assert drugs_named("no drug here: camizestrants, xfulvestrant", CATALOGUE) == ()

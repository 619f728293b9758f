"""Properties of the parsers over arbitrary input: they answer with a report or a ParseError,
never another exception (which would be a 500 or a dropped MLLP connection)."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imports.parsers import ParseError, parse_csv, parse_fhir, parse_hl7v2
from tests.imports.parsers.fixtures import fixture

FINAL = fixture("hl7v2/oru-r01-esr1-final.hl7").decode()
BUNDLE = json.loads(fixture("fhir/esr1-final-urn-uuid.json"))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answers(parse, raw) -> None:
    try:
        message = parse(raw)
    except ParseError as exc:
        assert str(exc)
        return
    for report in message.reports:
        for text in (report.mrn, report.accession, report.report_id):
            assert "\x00" not in text
        for v in report.variants:
            assert "\x00" not in v.gene + v.protein_change + v.text


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes_are_a_report_or_a_parse_error(raw):
    for parse in (parse_fhir, parse_hl7v2, parse_csv):
        answers(parse, raw)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_after_an_msh_header_is_a_report_or_a_parse_error(tail):
    answers(parse_hl7v2, "MSH|^~\\&|A|B|C|D|20261028||ORU^R01|X|P|2.5.1\r" + tail)


@SETTINGS
@given(st.data())
def test_a_message_mutated_anywhere_is_a_report_or_a_parse_error(data):
    position = data.draw(st.integers(0, len(FINAL)))
    cut = data.draw(st.integers(0, 40))
    insert = data.draw(st.text(alphabet="|^~\\&\r\nF0X9. ", max_size=8))
    answers(parse_hl7v2, FINAL[:position] + insert + FINAL[position + cut :])


@SETTINGS
@given(st.data())
def test_a_bundle_with_any_field_replaced_is_a_report_or_a_parse_error(data):
    bundle = json.loads(json.dumps(BUNDLE))
    entry = data.draw(st.sampled_from(bundle["entry"]))["resource"]
    key = data.draw(st.sampled_from(sorted(entry)))
    entry[key] = data.draw(
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers()),
                  st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
    )  # fmt: skip
    answers(parse_fhir, json.dumps(bundle))


# Text a lab may put in a free-text OBX: every character HL7 reserves, and then some.
comment_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    | st.sampled_from("|^~\\&"),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() == s and "  " not in s)


@SETTINGS
@given(comment_text)
def test_hl7_escaping_round_trips_through_the_parser(text):
    """A value escaped the standard way (\\F\\ \\S\\ \\R\\ \\T\\ \\E\\) comes back as sent."""
    escaped = (
        text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
        .replace("~", "\\R\\").replace("&", "\\T\\")
    )  # fmt: skip
    raw = (
        "MSH|^~\\&|A|B|C|D|20261028||ORU^R01|CTL|P|2.5.1\r"
        "PID|1||M-1^^^H^MR\r"
        "OBR|1||ACC-1" + "|" * 22 + "F\r"
        f"OBX|1|ST|48018-6^Gene^LN|1|ESR1\r"
        f"OBX|2|ST|48005-3^Change^LN|1|{escaped}\r"
    )
    (report,) = parse_hl7v2(raw).reports
    assert report.variants[0].protein_change == text


def test_deeply_nested_content_is_a_parse_error():
    deep = "[" * 100_000 + "]" * 100_000
    for parse in (parse_fhir, parse_csv, parse_hl7v2):
        answers(parse, deep)
    answers(parse_fhir, '{"resourceType": "Bundle", "type": "collection", "x": ' + deep + "}")

"""The HL7 v2.5.1 ORU^R01 parser on messages in the genomics LOINC layout."""

import re
from datetime import date
from decimal import Decimal

import pytest

from imports.parsers import ParsedVariant, ParseError, parse_hl7v2
from surveillance.variants import normalise_variant
from tests.imports.parsers.fixtures import fixture

FINAL = "hl7v2/oru-r01-esr1-final.hl7"
CORRECTED = "hl7v2/oru-r01-esr1-corrected-crlf.hl7"
FAILED = "hl7v2/oru-r01-failed-sample.hl7"

MSH = r"MSH|^~\&|LAB|GENOLAB|ESR1WATCH|CLINIC|20261028||ORU^R01^ORU_R01|CTRL-1|P|2.5.1"
PID = r"PID|1||MRN-1^^^HOSP^MR||Doe^Jane||19600214|F"


def obr(status="F", accession="ACC-1", collected="20261020", reported="20261028"):
    fields = [""] * 26
    fields[0], fields[1], fields[3] = "OBR", "1", accession
    fields[4] = "G360^Guardant360 CDx^L"
    fields[7], fields[22], fields[25] = collected, reported, status
    return "|".join(fields)


def message(*segments, end="\r") -> str:
    return end.join(segments) + end


def test_final_message_reads_patient_order_and_grouped_variants():
    parsed = parse_hl7v2(fixture(FINAL))

    assert (parsed.control_id, parsed.message_type) == ("G360-MSG-000123", "ORU^R01")
    (report,) = parsed.reports
    assert report.source_format == "hl7v2"
    assert report.mrn == "MRN-ESR1-0001"  # the PID-3 repetition typed MR, not the first
    assert report.birth_date == date(1961, 3, 14)
    assert report.accession == report.report_id == "G360-24-0815"  # OBR-3
    assert report.collected_on == date(2026, 10, 20)  # OBR-7
    assert report.reported_on == date(2026, 10, 28)  # OBR-22
    assert report.status == "final"
    assert report.assay == "Guardant360 CDx"
    assert report.variants[:2] == (
        # Gene symbol in CWE.2 (CWE.1 is the HGNC id); the RefSeq-prefixed change as written.
        ParsedVariant("ESR1", "NP_000116.2:p.Asp538Gly", Decimal("1.2")),
        ParsedVariant("PIK3CA", "p.His1047Arg", Decimal("8.5")),
    )
    cnv = report.variants[2]
    assert (cnv.gene, cnv.protein_change, cnv.vaf_percent) == ("ERBB2", "", None)
    assert "copy_number_gain" in cnv.text


def test_escapes_and_repetitions_are_undone_in_kept_findings():
    (report,) = parse_hl7v2(fixture(FINAL)).reports
    findings = report.other_findings
    assert "Mutations/Megabase [# Ratio] in Tumor: 7.4 {mutations}/Mb" in findings
    # \T\ & , \F\ | , \S\ ^ , \E\ \ ; OBX-5 repetitions joined; NTE kept.
    assert (
        "Laboratory comment: Tumour fraction 4 & 5 | see ^ note Second line of the comment"
        in findings
    )
    assert "Reviewed by Dr O'Brien \\ Dr Müller" in findings


def test_corrected_message_with_crlf_segment_ends_and_accession_from_spm():
    parsed = parse_hl7v2(fixture(CORRECTED))
    (report,) = parsed.reports
    assert parsed.control_id == "G360-MSG-000131"
    assert report.status == "corrected"  # OBR-25 C
    assert report.accession == report.report_id == "G360-24-0815"  # SPM-2 filler id
    assert report.variants[0] == ParsedVariant("ESR1", "NP_000116.2:p.Tyr537Ser", None)
    fusion = report.variants[1]
    assert (fusion.protein_change, fusion.vaf_percent) == ("", None)
    assert "ALK::EML4 fusion" in fusion.text


def test_the_same_message_with_any_segment_end_parses_the_same():
    raw = fixture(FINAL).decode()
    variants = {parse_hl7v2(raw.replace("\r", end)).reports[0] for end in ("\r", "\n", "\r\n")}
    assert len(variants) == 1


def test_failed_sample_is_a_failed_report_without_variants():
    (report,) = parse_hl7v2(fixture(FAILED)).reports
    assert report.status == "failed"  # OBR-25 X
    assert report.variants == ()
    assert report.accession == "DD-26-4410"
    assert any("cannot be done" in f for f in report.other_findings)


def test_mllp_framing_around_a_message_is_ignored():
    framed = b"\x0b" + fixture(FINAL) + b"\x1c\r"
    assert parse_hl7v2(framed) == parse_hl7v2(fixture(FINAL))


def test_two_orders_in_one_message_are_two_reports():
    raw = message(
        MSH, PID,
        obr(accession="ACC-1"),
        r"OBX|1|ST|48018-6^Gene^LN|1|ESR1",
        r"OBX|2|ST|48005-3^AA change^LN|1|p.Y537S",
        obr(accession="ACC-2", collected="20261021"),
        r"OBX|1|ST|48018-6^Gene^LN|1|ESR1",
        r"OBX|2|ST|48005-3^AA change^LN|1|D538G",
        r"OBX|3|NM|81258-6^VAF^LN|1|0.05|1^ratio^UCUM",
    )  # fmt: skip
    first, second = parse_hl7v2(raw).reports
    assert (first.accession, first.variants) == ("ACC-1", (ParsedVariant("ESR1", "p.Y537S", None),))
    assert second.accession == "ACC-2"
    assert second.collected_on == date(2026, 10, 21)
    # A VAF sent as a fraction (unit 1) becomes a percentage.
    assert second.variants == (ParsedVariant("ESR1", "D538G", Decimal("5")),)
    assert first.mrn == second.mrn == "MRN-1"


def test_variant_reported_absent_is_a_finding_not_a_variant():
    raw = message(
        MSH, PID, obr(),
        r"OBX|1|CWE|69548-6^Genetic variant assessment^LN|1|LA9634-2^Absent^LN",
        r"OBX|2|ST|48018-6^Gene^LN|1|ESR1",
        r"OBX|3|ST|48005-3^AA change^LN|1|p.D538G",
    )  # fmt: skip
    (report,) = parse_hl7v2(raw).reports
    assert report.variants == ()
    assert report.other_findings == ("Not detected: ESR1 p.D538G",)


def test_content_hash_ignores_the_status_and_report_date_but_not_the_variants():
    base = parse_hl7v2(fixture(FINAL)).reports[0]
    raw = fixture(FINAL).decode()
    resent = parse_hl7v2(raw.replace("||F\rOBX|1|", "||C\rOBX|1|", 1)).reports[0]
    changed = parse_hl7v2(raw.replace("|1.2|%", "|1.3|%")).reports[0]
    assert resent.status == "corrected"
    assert resent.content_hash == base.content_hash
    assert changed.content_hash != base.content_hash


def test_every_variant_in_the_fixtures_is_read_or_kept_never_an_error():
    for name in (FINAL, CORRECTED, FAILED):
        for report in parse_hl7v2(fixture(name)).reports:
            for v in report.variants:
                normalise_variant(v.gene, v.protein_change, v.vaf_percent, v.text)


@pytest.mark.parametrize(
    ("status", "expected"),
    [("F", "final"), ("C", "corrected"), ("X", "failed"), ("P", "preliminary"),
     ("f", "final")],
)  # fmt: skip
def test_obr_25_statuses(status, expected):
    (report,) = parse_hl7v2(message(MSH, PID, obr(status=status))).reports
    assert report.status == expected


@pytest.mark.parametrize(
    ("raw", "reason", "control_id"),
    [
        (b"", "starts with an MSH segment", ""),
        (b"\xff\xfe\x00garbage", "not UTF-8", ""),
        (b"PID|1||X", "starts with an MSH segment", ""),
        (message(MSH.replace("ORU^R01^ORU_R01", "ADT^A01"), PID), "ADT^A01' is not supported",
         "CTRL-1"),
        (message(MSH, PID), "no OBR", "CTRL-1"),
        (message(MSH, PID, r"OBX|1|ST|48018-6^Gene^LN|1|ESR1", obr()), "before any OBR",
         "CTRL-1"),
        (message(MSH, PID, obr(status="")), "OBR-25 result status 'missing'", "CTRL-1"),
        (message(MSH, PID, obr(status="D")), "OBR-25 result status 'D'", "CTRL-1"),
        (message(MSH, PID, obr(collected="2026")), "OBR-7 collection date '2026'", "CTRL-1"),
        (message(MSH, PID, obr(reported="20261399")), "OBR-22 report date", "CTRL-1"),
        (message(MSH, PID, obr(), r"OBX|1|NM|81258-6^VAF^LN|1|lots|%"), "'lots' is not a number",
         "CTRL-1"),
        (message(MSH, PID, obr(), message(MSH, PID, obr())), "one HL7 message at a time",
         "CTRL-1"),
    ],
)  # fmt: skip
def test_unreadable_messages_are_parse_errors_naming_the_control_id(raw, reason, control_id):
    with pytest.raises(ParseError, match=re.escape(reason)) as excinfo:
        parse_hl7v2(raw)
    assert excinfo.value.control_id == control_id


@pytest.mark.parametrize(
    ("gene_value", "symbol"),
    [
        ("HGNC:3467^ESR1^HGNC", "ESR1"),  # symbol in CWE.2
        ("ESR1^^HGNC", "ESR1"),  # CWE.1 when it is a symbol
        ("ESR1^estrogen receptor 1^HGNC", "ESR1"),  # CWE.2 is a name, not a symbol
        ("esr1", "ESR1"),
        ("HGNC:3467", ""),  # an id alone names no symbol
    ],
)
def test_gene_symbol_from_cwe_2_or_cwe_1(gene_value, symbol):
    raw = message(
        MSH, PID, obr(),
        f"OBX|1|CWE|48018-6^Gene^LN|1|{gene_value}",
        r"OBX|2|CWE|48005-3^AA change^LN|1|^p.Asp538Gly^HGVS",
    )  # fmt: skip
    (variant,) = parse_hl7v2(raw).reports[0].variants
    assert (variant.gene, variant.protein_change) == (symbol, "p.Asp538Gly")
    if not symbol:
        assert variant.text  # a gene-less variant always says what was reported


def test_mrn_without_an_identifier_type_is_the_first_repetition():
    raw = message(MSH, r"PID|1||FIRST-1^^^H~SECOND-2^^^H||Doe^Jane", obr())
    (report,) = parse_hl7v2(raw).reports
    assert (report.mrn, report.birth_date) == ("FIRST-1", None)


def test_latin_1_messages_declared_in_msh_18_are_read():
    raw = (MSH + "|||||8859/1\r" + PID.replace("Jane", "Ren\xe9e") + "\r" + obr() + "\r").encode(
        "latin-1"
    )
    (report,) = parse_hl7v2(raw).reports
    assert report.mrn == "MRN-1"


def test_an_esr1_fusion_is_filed_under_esr1_whichever_partner_comes_first():
    raw = message(
        MSH, PID, obr(),
        r"OBX|1|CWE|48018-6^Gene^LN|1|CCDC170^CCDC170^HGNC",
        r"OBX|2|CWE|48018-6^Gene^LN|1|HGNC:3467^ESR1^HGNC",
        r"OBX|3|CWE|81304-8^Structural variant type^LN|1|SO:0001565^gene_fusion^SO",
    )  # fmt: skip
    (variant,) = parse_hl7v2(raw).reports[0].variants
    assert (variant.gene, variant.protein_change) == ("ESR1", "")
    assert variant.text.startswith("CCDC170::ESR1 fusion")
    normalised = normalise_variant(variant.gene, variant.protein_change, None, variant.text)
    assert (normalised.esr1_activating, normalised.esr1_vus) == (False, True)

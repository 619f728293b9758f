"""The FHIR parser on the Genomics Reporting IG's published examples, unchanged, and on ESR1
reports of our own in the same shape."""

import json
from datetime import date
from decimal import Decimal

import pytest

from imports.parsers import ParsedVariant, ParseError, parse_fhir
from surveillance.variants import normalise_variant
from tests.imports.parsers.fixtures import FIXTURES, fixture

IG = sorted(p.name for p in (FIXTURES / "ig").glob("Bundle-*.json"))
OURS = sorted(p.name for p in (FIXTURES / "fhir").glob("*.json"))


def only_report(name: str):
    (report,) = parse_fhir(fixture(name)).reports
    return report


def triples(report):
    return [(v.gene, v.protein_change, v.vaf_percent) for v in report.variants]


# -- the implementation guide's examples -----------------------------------------------------


def test_ig_oncology_report_finds_every_somatic_variant_with_gene_hgvs_and_vaf():
    """A molecular lab's report: 12 variants, genes coded as HGNC ids with the symbol as
    display, VAF as a fraction (unit 1) that becomes a percentage."""
    report = only_report("ig/Bundle-oncology-report-example.json")

    assert report.source_format == "fhir"
    assert report.report_id == "42867"  # DiagnosticReport.identifier
    assert report.status == "final"
    assert report.mrn == "11111"
    assert report.accession == "UNKNOWN"  # the only Specimen.identifier
    assert report.reported_on == date(2019, 9, 15)  # DiagnosticReport.issued
    assert len(report.variants) == 12
    assert triples(report)[:4] == [
        ("PIK3CA", "p.H1047R", Decimal("21.88")),
        ("NRAS", "p.G12C", Decimal("17.93")),
        ("FBXW7", "p.R465H", Decimal("10.53")),
        ("KMT2D", "p.Q2634Afs*20", Decimal("18.8")),
    ]
    assert ("CDKN2A", "p.A4_P11del", Decimal("5.36")) in triples(report)


def test_ig_oncology_examples_reach_variants_through_groupers_and_keep_other_findings():
    report = only_report("ig/Bundle-oncologyexamples-r4.json")

    # Variants sit under a grouper's hasMember; germline ones are kept like somatic ones.
    assert [(v.gene, v.protein_change) for v in report.variants] == [
        ("JAK2", "p.Val617Phe"),
        ("KDR", "p.Gln472His"),
        ("ERBB4", ""),
    ]
    erbb4 = report.variants[2]
    assert "2:g.212578380del" in erbb4.text  # no protein change: the DNA change is kept
    assert all(v.vaf_percent is None for v in report.variants)
    assert report.mrn == "1007"
    assert report.birth_date == date(1962, 12, 31)
    assert report.accession == "076e1948-2217-11e9-94d8-12e241dc1f66"
    assert report.reported_on is None  # no issued: the pipeline uses the day of receipt
    # No identifier: the report id is the content hash.
    assert report.report_id == f"sha256:{report.content_hash}"
    findings = " | ".join(report.other_findings)
    assert "Tumor Mutational Burden: 25" in findings
    assert "MSI status: High" in findings
    assert "Ruxolitinib" in findings  # therapeutic implications kept as text


def test_ig_cg_example_resolves_type_id_references_and_nested_variants():
    report = only_report("ig/Bundle-diagnosticreport-cgexample.json")

    assert report.reported_on == date(2016, 9, 6)
    assert report.collected_on is None  # effectiveDateTime "2016" is too vague for a draw
    acad9 = report.variants[0]
    assert (acad9.gene, acad9.protein_change, acad9.vaf_percent) == (
        "ACAD9",
        "p.Arg417Cys",
        Decimal("47"),
    )
    # A complex variant and its members: the member's gene comes from its ClinVar name.
    assert ("CYP2D6", "p.Arg296Cys") in [(v.gene, v.protein_change) for v in report.variants]
    assert any("Haplotype" in v.text for v in report.variants)
    assert any("CYP2C9 *2/*5" in f for f in report.other_findings)


def test_ig_bundle_without_a_report_is_refused():
    with pytest.raises(ParseError, match="no DiagnosticReport"):
        parse_fhir(fixture("ig/Bundle-complexVariant-nonHGVS.json"))


@pytest.mark.parametrize("name", [f"ig/{n}" for n in IG] + [f"fhir/{n}" for n in OURS])
def test_no_published_or_own_variant_blocks_a_report(name):
    """Every variant the examples carry is either read or kept as written by the variant
    normaliser the typed results use: none is an error."""
    try:
        message = parse_fhir(fixture(name))
    except ParseError:
        assert name == "ig/Bundle-complexVariant-nonHGVS.json"
        return
    for report in message.reports:
        for v in report.variants:
            normalise_variant(v.gene, v.protein_change, v.vaf_percent, v.text)


# -- our own ESR1 reports ---------------------------------------------------------------------


def test_esr1_report_with_urn_uuid_references_and_refseq_hgvs():
    report = only_report("fhir/esr1-final-urn-uuid.json")

    assert report.report_id == "RPT-2026-000123"
    assert report.status == "final"
    assert report.mrn == "MRN-ESR1-0001"  # the identifier typed MR, not the first one
    assert report.birth_date == date(1961, 3, 14)
    assert report.accession == "G360-24-0815"  # accessionIdentifier wins over identifier
    assert report.collected_on == date(2026, 10, 20)
    assert report.reported_on == date(2026, 10, 28)
    assert report.assay == "Guardant360 CDx"
    assert report.variants[:2] == (
        ParsedVariant("ESR1", "NP_000116.2:p.Asp538Gly", Decimal("1.2")),
        ParsedVariant("PIK3CA", "NP_006209.2:p.His1047Arg", Decimal("8.5")),
    )
    fusion, cnv = report.variants[2:]
    assert (fusion.protein_change, fusion.vaf_percent) == ("", Decimal("0.4"))
    assert "EML4::ALK fusion" in fusion.text
    assert (cnv.gene, cnv.vaf_percent) == ("ERBB2", None)
    assert "copy_number_gain" in cnv.text and "copy number 6" in cnv.text
    # Reported absent: not a variant, but kept.
    assert "Not detected: ESR1 p.Tyr537Ser" in report.other_findings
    assert any(f.startswith("Microsatellite instability") for f in report.other_findings)


def test_esr1_amended_report_with_type_id_references_is_a_correction():
    first = only_report("fhir/esr1-final-urn-uuid.json")
    amended = only_report("fhir/esr1-amended-type-id.json")

    assert amended.status == "corrected"
    assert amended.report_id == first.report_id
    assert amended.content_hash != first.content_hash
    assert amended.accession == "G360-24-0815"  # from Specimen.identifier
    assert triples(amended) == [
        ("ESR1", "NP_000116.2:p.Tyr537Ser", None),  # present, VAF not quantified
        ("ESR1", "p.Leu536_Asp538delinsPro", Decimal("0.3")),
    ]


def test_cannot_be_done_conclusion_is_a_failed_result():
    report = only_report("fhir/esr1-cannot-be-done.json")
    assert report.status == "failed"
    assert report.variants == ()
    assert (report.mrn, report.accession) == ("MRN-ESR1-0002", "DD-26-4410")


def bundle(name: str) -> dict:
    return json.loads(fixture(name))


def report_of(data: dict) -> dict:
    return next(
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    )


def test_words_of_failure_do_not_fail_a_report_that_lists_variants():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    report_of(data)["conclusion"] = "Insufficient evidence to classify the ERBB2 gain."
    (report,) = parse_fhir(json.dumps(data)).reports
    assert report.status == "final"
    assert len(report.variants) == 4


def test_a_coded_failure_that_lists_variants_is_refused():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    report_of(data)["conclusionCode"] = [
        {"coding": [{"system": "http://snomed.info/sct", "code": "385660001"}]}
    ]
    with pytest.raises(ParseError, match="could not be done but lists variants"):
        parse_fhir(json.dumps(data))


def test_re_sent_report_has_the_same_hash_whatever_its_status_and_date():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    first = parse_fhir(json.dumps(data)).reports[0]
    report_of(data)["status"] = "corrected"
    report_of(data)["issued"] = "2026-11-01T09:00:00Z"
    again = parse_fhir(json.dumps(data)).reports[0]
    assert again.status == "corrected"
    assert again.content_hash == first.content_hash


@pytest.mark.parametrize(
    ("status", "expected"),
    [("final", "final"), ("amended", "corrected"), ("corrected", "corrected"),
     ("preliminary", "preliminary"), ("partial", "preliminary")],
)  # fmt: skip
def test_report_statuses(status, expected):
    data = bundle("fhir/esr1-final-urn-uuid.json")
    report_of(data)["status"] = status
    assert parse_fhir(json.dumps(data)).reports[0].status == expected


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "unknown", "registered!"])
def test_statuses_that_carry_no_result_are_refused(status):
    data = bundle("fhir/esr1-final-urn-uuid.json")
    report_of(data)["status"] = status
    with pytest.raises(ParseError):
        parse_fhir(json.dumps(data))


def test_vaf_in_an_unknown_unit_is_refused_with_the_unit():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    esr1 = next(
        e["resource"] for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and "NP_000116.2:p.Asp538Gly" in json.dumps(e["resource"])
    )  # fmt: skip
    esr1["component"][-1]["valueQuantity"].update(code="copies/mL", unit="copies/mL")
    with pytest.raises(ParseError, match="VAF of ESR1 is in 'copies/mL'"):
        parse_fhir(json.dumps(data))


def test_a_subject_given_only_by_identifier_still_names_the_mrn():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != "Patient"]
    report_of(data)["subject"] = {"identifier": {"value": "MRN-ESR1-0001"}}
    (report,) = parse_fhir(json.dumps(data)).reports
    assert (report.mrn, report.birth_date) == ("MRN-ESR1-0001", None)


def test_a_reference_cycle_between_groupers_ends():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    grouper = next(
        e for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation" and "hasMember" in e["resource"]
    )  # fmt: skip
    grouper["resource"]["hasMember"].append({"reference": grouper["fullUrl"]})
    (report,) = parse_fhir(json.dumps(data)).reports
    assert len(report.variants) == 4


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"resourceType": "Patient"}', "Expected a FHIR Bundle"),
        (b'{"resourceType": "Bundle"}', "not valid R4"),  # type is required
        (b'{"resourceType": "Bundle", "type": "searchset"}', "not a report bundle"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": '
         b'{"resourceType": "DiagnosticReport", "status": "final"}}]}', "not valid R4"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "no DiagnosticReport"),
    ],
)  # fmt: skip
def test_unreadable_content_is_a_parse_error_with_the_reason(raw, reason):
    with pytest.raises(ParseError, match=reason):
        parse_fhir(raw)


def test_a_bundle_with_two_reports_gives_two_reports_each_with_its_own_specimen():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    second_specimen = {
        "fullUrl": "urn:uuid:1d0e0000-0000-4000-8000-000000000002",
        "resource": {
            "resourceType": "Specimen",
            "accessionIdentifier": {"value": "G360-24-0999"},
            "collection": {"collectedDateTime": "2026-08-01"},
        },
    }
    second = json.loads(json.dumps(report_of(data)))
    second["identifier"][0]["value"] = "RPT-2026-000099"
    second["specimen"] = [{"reference": second_specimen["fullUrl"]}]
    second["result"] = []
    data["type"] = "document"
    data["entry"] += [
        second_specimen,
        {"fullUrl": "urn:uuid:1d0e0000-0000-4000-8000-000000000003", "resource": second},
    ]

    first, other = parse_fhir(json.dumps(data)).reports
    assert (first.report_id, first.accession, len(first.variants)) == (
        "RPT-2026-000123", "G360-24-0815", 4,
    )  # fmt: skip
    assert (other.report_id, other.accession, other.collected_on, other.variants) == (
        "RPT-2026-000099", "G360-24-0999", date(2026, 8, 1), (),
    )  # fmt: skip
    assert first.mrn == other.mrn == "MRN-ESR1-0001"


def test_a_vaf_with_more_decimals_than_stored_is_rounded_not_refused():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    text = json.dumps(data).replace('"value": 1.2,', '"value": 1.234567,', 1)
    (report,) = parse_fhir(text).reports
    assert report.variants[0].vaf_percent == Decimal("1.2346")


def test_nul_characters_never_reach_the_report():
    data = bundle("fhir/esr1-final-urn-uuid.json")
    report_of(data)["identifier"][0]["value"] = "RPT\u0000-1"
    (report,) = parse_fhir(json.dumps(data)).reports
    assert report.report_id == "RPT-1"

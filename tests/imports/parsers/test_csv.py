"""CSV batches: one row per variant, grouped into reports by accession and report date."""

from datetime import date
from decimal import Decimal

import pytest

from imports.parsers import ParsedVariant, ParseError, parse_csv
from tests.imports.parsers.fixtures import fixture

HEADER = "mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent"


def csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def test_batch_rows_become_one_report_per_accession_and_report_date():
    parsed = parse_csv(fixture("csv/batch.csv"))

    assert parsed.message_type == "csv"
    first, empty, failed = parsed.reports
    assert first.source_format == "csv"
    assert first.report_id == "FO-26-1001|2026-10-29"
    assert (first.mrn, first.accession) == ("MRN-ESR1-0001", "FO-26-1001")
    assert (first.collected_on, first.reported_on) == (date(2026, 10, 20), date(2026, 10, 29))
    assert first.status == "final"
    assert first.variants == (
        ParsedVariant("ESR1", "NP_000116.2:p.Asp538Gly", Decimal("1.2")),
        ParsedVariant("ESR1", "Y537S", None),  # a blank VAF is "not reported"
        ParsedVariant("ALK", "EML4-ALK fusion, exon 13", Decimal("0.4")),  # quoted comma
    )
    # A report with no variants is one row with the last three columns empty.
    assert (empty.accession, empty.variants) == ("FO-26-1002", ())
    assert (failed.status, failed.variants) == ("failed", ())


def test_columns_in_any_order_with_optional_birth_date_and_assay_and_a_bom():
    raw = (
        "\ufeffAccession,MRN,status,gene,protein_change,vaf_percent,reported_on,collected_on,"
        "birth_date,assay\r\n"
    )
    raw += "A-1,M-1,amended,esr1,D538G,0.7%,2026-10-29,2026-10-20,1961-03-14,ddpcr_esr1\r\n"
    (report,) = parse_csv(raw.encode()).reports
    assert (report.status, report.birth_date, report.assay) == (
        "corrected", date(1961, 3, 14), "ddpcr_esr1",
    )  # fmt: skip
    assert report.variants == (ParsedVariant("ESR1", "D538G", Decimal("0.7")),)


def test_semicolon_separated_files_are_read_too():
    raw = csv("M-1;A-1;2026-10-20;2026-10-29;final;ESR1;D538G;1,2".replace(",", "."),
              header=HEADER.replace(",", ";"))  # fmt: skip
    (report,) = parse_csv(raw).reports
    assert report.variants == (ParsedVariant("ESR1", "D538G", Decimal("1.2")),)


def test_a_row_without_accession_is_grouped_by_patient_and_dates():
    raw = csv(
        "M-1,,2026-10-20,2026-10-29,final,ESR1,D538G,1",
        "M-1,,2026-10-20,2026-10-29,final,PIK3CA,H1047R,2",
        "M-2,,2026-10-20,2026-10-29,final,,,",
    )
    first, second = parse_csv(raw).reports
    assert (first.mrn, len(first.variants), second.mrn) == ("M-1", 2, "M-2")
    assert first.report_id.startswith("sha256:") and first.report_id != second.report_id


def test_the_same_rows_give_the_same_report_id_and_hash():
    raw = csv("M-1,A-1,2026-10-20,2026-10-29,final,ESR1,D538G,1")
    assert parse_csv(raw) == parse_csv(raw.encode())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (HEADER + "\n", "no rows"),
        ("mrn,accession\nM,A\n", "lacks collected_on, reported_on, status"),
        (csv("M,A,2026-10-20,2026-10-29,final,ESR1,D538G,1,extra"), "Row 2 has 9 cells"),
        (csv("M,A,20/10/2026,2026-10-29,final,ESR1,D538G,1"), "Row 2: collected_on '20/10/2026'"),
        (csv("M,A,2026-10-20,2026-10-29,final,ESR1,D538G,high"), "Row 2: vaf_percent 'high'"),
        (csv("M,A,2026-10-20,2026-10-29,done,ESR1,D538G,1"), "Row 2: status 'done'"),
        (csv("M,A,2026-10-20,2026-10-29,final,ESR1,D538G,1",
             "N,A,2026-10-20,2026-10-29,final,ESR1,Y537S,1"), "Row 3: mrn 'N' differs from row 2"),
        (csv(",,2026-10-20,2026-10-29,final,ESR1,D538G,1"), "an mrn or an accession"),
        ('mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent\n'
         'M,A,2026-10-20,2026-10-29,final,ESR1,"D538G,1\n', "cannot be read"),
        (HEADER + ",mrn\n", "names mrn more than once"),
    ],
)  # fmt: skip
def test_unreadable_batches_are_parse_errors_naming_the_row(raw, reason):
    with pytest.raises(ParseError, match=reason):
        parse_csv(raw)

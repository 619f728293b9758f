"""CSV batches -> ParsedMessage, one report per accession and report date.

Header `mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent`
(in any order; `birth_date` and `assay` columns are read when present), one row per variant;
a report with no variants is one row with the last three empty. Dates are YYYY-MM-DD.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from imports.parsers.common import clip, decode, gene_symbol, parse_decimal, vaf_from, with_hash
from imports.parsers.report import ParsedMessage, ParsedReport, ParsedVariant, ParseError

REQUIRED = (
    "mrn",
    "accession",
    "collected_on",
    "reported_on",
    "status",
    "gene",
    "protein_change",
    "vaf_percent",
)
OPTIONAL = ("birth_date", "assay")
STATUSES = {
    "": "final",
    "final": "final",
    "f": "final",
    "corrected": "corrected",
    "amended": "corrected",
    "c": "corrected",
    "failed": "failed",
    "x": "failed",
    "preliminary": "preliminary",
    "p": "preliminary",
}
# Fields every row of one report must agree on.
SHARED = ("mrn", "collected_on", "status", "birth_date", "assay")
MAX_ROWS = 20_000


def parse_csv(raw: bytes | str) -> ParsedMessage:
    text = decode(raw, "The CSV file").lstrip("\ufeff")
    if not text.strip():
        raise ParseError("The CSV file is empty")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ParseError(f"The CSV file cannot be read: {exc}") from None
    header = [name.strip().lower() for name in rows[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ParseError(
            f"The CSV header lacks {', '.join(missing)}; expected {','.join(REQUIRED)}"
        )
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise ParseError(f"The CSV header names {', '.join(duplicated)} more than once")
    body = [
        (number, row) for number, row in enumerate(rows[1:], start=2) if any(c.strip() for c in row)
    ]
    if not body:
        raise ParseError("The CSV file has a header but no rows")
    if len(body) > MAX_ROWS:
        raise ParseError(f"The CSV file has more than {MAX_ROWS} rows; split it")

    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for number, cells in body:
        if len(cells) > len(header):
            raise ParseError(f"Row {number} has {len(cells)} cells, the header {len(header)}")
        record = {
            name: (cells[i].strip() if i < len(cells) else "")
            for i, name in enumerate(header)
            if name in REQUIRED or name in OPTIONAL
        }
        record = {name: record.get(name, "") for name in REQUIRED + OPTIONAL}
        key = (record["accession"], record["reported_on"])
        if not record["accession"]:
            key = ("", record["reported_on"], record["mrn"], record["collected_on"])
        groups.setdefault(key, []).append((number, record))

    return ParsedMessage(
        reports=tuple(_report(rows) for rows in groups.values()),
        message_type="csv",
    )


def _report(rows: list[tuple[int, dict]]) -> ParsedReport:
    first_number, first = rows[0]
    for number, record in rows[1:]:
        for name in SHARED:
            if record[name] != first[name]:
                raise ParseError(
                    f"Row {number}: {name} {clip(record[name])!r} differs from row "
                    f"{first_number} ({clip(first[name])!r}) of the same report"
                )
    status = STATUSES.get(first["status"].lower())
    if status is None:
        raise ParseError(
            f"Row {first_number}: status {clip(first['status'])!r} is not one of "
            "final, corrected, amended, failed, preliminary"
        )
    if not first["mrn"] and not first["accession"]:
        raise ParseError(f"Row {first_number}: an mrn or an accession is required")

    variants = []
    for number, record in rows:
        gene, change, vaf = record["gene"], record["protein_change"], record["vaf_percent"]
        if not (gene or change or vaf):
            continue
        variants.append(
            ParsedVariant(
                gene=gene_symbol(gene) or gene.upper(),
                protein_change=change,
                vaf_percent=(
                    vaf_from(parse_decimal(vaf, f"Row {number}: vaf_percent"), "%", "")
                    if vaf
                    else None
                ),
            )
        )
    accession, reported = first["accession"], first["reported_on"]
    report = ParsedReport(
        source_format="csv",
        report_id=f"{accession}|{reported}" if accession else "",
        status=status,
        mrn=first["mrn"],
        birth_date=_date(first["birth_date"], "birth_date", first_number),
        accession=accession,
        collected_on=_date(first["collected_on"], "collected_on", first_number),
        reported_on=_date(reported, "reported_on", first_number),
        assay=first["assay"],
        variants=tuple(variants),
    )
    return with_hash(report, fallback_id=True)


def _date(text: str, name: str, number: int) -> date | None:
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ParseError(
            f"Row {number}: {name} {clip(text)!r} is not a date (YYYY-MM-DD)"
        ) from None

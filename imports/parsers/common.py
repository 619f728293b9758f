"""Small helpers the three parsers share: gene symbols, VAF numbers, content hashes."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation

from imports.parsers.report import ParsedReport, ParsedVariant, ParseError

# LOINC codes of the Genomics Reporting variant and its parts (HL7 v2 uses the same ones).
VARIANT = "69548-6"
GENE = "48018-6"
PROTEIN_CHANGE = "48005-3"
VAF = "81258-6"
# Parts that describe a variant that has no protein change (copy number, fusion, DNA-level).
DESCRIBING = {
    "81290-9": "genomic change",  # gHGVS
    "48004-6": "DNA change",  # cHGVS
    "81252-9": "variant",  # discrete genetic variant
    "48019-4": "DNA change type",
    "48001-2": "cytogenetic location",
    "81304-8": "structural variant type",
    "62378-5": "copy number change",
    "82155-3": "copy number",
    "81263-6": "variant type",
}
PRESENT = "LA9633-4"
ABSENT = "LA9634-2"

# An HGNC symbol: letters, digits, hyphens (HLA-A), and the odd "@" or "orf".
_SYMBOL = re.compile(r"[A-Za-z][A-Za-z0-9-]*(?:orf[0-9]+)?@?", re.ASCII)

MAX_TEXT = 500


def gene_symbol(*candidates: str | None) -> str:
    """The first candidate that is written like an HGNC symbol, upper-cased; else ""."""
    for candidate in candidates:
        text = (candidate or "").strip()
        if _SYMBOL.fullmatch(text) and not text.upper().startswith("HGNC"):
            return text.upper()
    return ""


def fusion_gene(symbols: list[str]) -> str:
    """The gene a variant is filed under: its only gene, or for a fusion ESR1 when ESR1 is a
    partner (an ESR1 fusion is for the oncologist's review), else the first partner named."""
    if "ESR1" in symbols:
        return "ESR1"
    return symbols[0] if symbols else ""


def parse_decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip().rstrip("%").strip())
    except (InvalidOperation, AttributeError):
        raise ParseError(f"{what} {clip(text)!r} is not a number") from None
    if not value.is_finite():
        raise ParseError(f"{what} {clip(text)!r} is not a number")
    return value


def vaf_from(value: Decimal, unit: str, what: str) -> Decimal:
    """A VAF as a percentage: '%' as is, a fraction ('1', '{ratio}') times 100."""
    unit = (unit or "").strip()
    if unit in ("1", "{ratio}", "{fraction}", "ratio", "fraction"):
        value = value * 100
    elif unit not in ("", "%", "percent", "pct"):
        raise ParseError(f"{what} is in {clip(unit)!r}; send it in % (or as a fraction, unit 1)")
    # Stored to 4 decimals (finer than any ctDNA assay); more is noise, never a reason to refuse.
    if value.as_tuple().exponent < -4 and abs(value) < 10**6:
        value = value.quantize(Decimal("0.0001"))
    return tidy(value)


def tidy(value: Decimal) -> Decimal:
    """8.500 -> 8.5 and 10 stays 10 (not 1E+1)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def clip(text: str, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_text(text: str) -> str:
    return clip(" ".join(str(text).split()), MAX_TEXT)


def content_hash(
    *,
    mrn: str,
    birth_date: date | None,
    accession: str,
    collected_on: date | None,
    assay: str,
    failed: bool,
    variants: tuple[ParsedVariant, ...],
    other_findings: tuple[str, ...],
) -> str:
    """sha256 of what a clinician would read: who, which sample, which findings.

    The report's status and date are left out, so an amended report that says the same
    thing as the report it amends is recognised as a re-send, not a correction.
    """
    payload = {
        "mrn": mrn,
        "birth_date": birth_date.isoformat() if birth_date else None,
        "accession": accession,
        "collected_on": collected_on.isoformat() if collected_on else None,
        "assay": assay,
        "failed": failed,
        "variants": sorted(
            [
                v.gene,
                v.protein_change,
                None if v.vaf_percent is None else str(v.vaf_percent),
                v.text,
            ]
            for v in variants
        ),
        "other_findings": sorted(other_findings),
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Without control characters: Postgres refuses NUL, and none belongs in a report field."""
    return _CONTROL.sub("", text).strip()


def _cleaned(report: ParsedReport) -> ParsedReport:
    variants = tuple(
        replace(v, gene=clean(v.gene), protein_change=clean(v.protein_change), text=clean(v.text))
        for v in report.variants
    )
    return replace(
        report,
        report_id=clean(report.report_id),
        mrn=clean(report.mrn),
        accession=clean(report.accession),
        assay=clean(report.assay),
        variants=variants,
        other_findings=tuple(f for f in (clean(f) for f in report.other_findings) if f),
    )


def with_hash(report: ParsedReport, *, fallback_id: bool) -> ParsedReport:
    """The report cleaned of control characters, with its content hash (and that hash as its
    id when it has none)."""
    report = _cleaned(report)
    digest = content_hash(
        mrn=report.mrn,
        birth_date=report.birth_date,
        accession=report.accession,
        collected_on=report.collected_on,
        assay=report.assay,
        failed=report.status == "failed",
        variants=report.variants,
        other_findings=report.other_findings,
    )
    report_id = report.report_id or (f"sha256:{digest}" if fallback_id else "")
    return replace(report, content_hash=digest, report_id=report_id)


def decode(raw: bytes | str, what: str) -> str:
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError(f"{what} must be text")
    try:
        return bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{what} is not UTF-8 text (byte {exc.start})") from None

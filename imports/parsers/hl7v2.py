"""HL7 v2.5.1 ORU^R01 -> ParsedMessage.

Layout (the HL7 v2 genomics LOINC layout): PID-3 the MRN (the repetition typed MR, else the
first), PID-7 the birth date; one OBR per report with OBR-3 the filler order number (the
accession, else SPM-2), OBR-4 the test, OBR-7 the collection date, OBR-22 the report date and
OBR-25 the status (F final, C corrected, X cannot be done, P/I/R/S/A preliminary); the OBX rows
after an OBR belong to it and OBX-4 groups one variant's rows: 48018-6 the gene (symbol in
CWE.2, or CWE.1 when that is a symbol), 48005-3 the protein change, 81258-6 the VAF (NM, in %).
OBX rows in no variant group (TMB, MSI, comments) are kept as text.

python-hl7 splits the message and undoes the escapes (\\F\\, \\S\\, \\T\\, \\R\\, \\E\\).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import date

import hl7

from imports.parsers.common import (
    ABSENT,
    DESCRIBING,
    GENE,
    PRESENT,
    PROTEIN_CHANGE,
    VAF,
    VARIANT,
    clip,
    decode,
    fusion_gene,
    gene_symbol,
    parse_decimal,
    short_text,
    vaf_from,
    with_hash,
)
from imports.parsers.report import ParsedMessage, ParsedReport, ParsedVariant, ParseError

STATUSES = {
    "F": "final",
    "C": "corrected",
    "X": "failed",
    "P": "preliminary",
    "I": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "A": "preliminary",
}
SUPPORTED = ("ORU^R01",)
MAX_REPETITIONS = 50
_MLLP = "\x0b\x1c"


def parse_hl7v2(raw: bytes | str) -> ParsedMessage:
    if isinstance(raw, bytes | bytearray) and re.search(rb"\|8859/1\s*(\||\r|\n|$)", raw[:600]):
        text = bytes(raw).decode("latin-1")  # MSH-18 says ISO 8859-1
    else:
        text = decode(raw, "The HL7 message")
    # Frames from an MLLP sender, then any of the line endings senders use: HL7 says \r.
    text = text.strip(_MLLP + " \t\r\n\x00")
    text = re.sub(r"\r\n|\n\r|\n", "\r", text)
    text = re.sub(r"\r+", "\r", text)
    if not text.startswith("MSH") or len(text) < 8:
        raise ParseError("An HL7 v2 message starts with an MSH segment")
    _check_encoding_characters(text)
    control_id = ""
    try:
        message = hl7.parse(text)
        header = message.segments("MSH")
        control_id = _get(header[0], 10)
        if len(header) != 1:
            raise ParseError("Send one HL7 message at a time (found more than one MSH)")
        return _message(message, control_id)
    except ParseError as exc:
        if exc.control_id or not control_id:
            raise
        raise ParseError(exc.reason, control_id=control_id) from None
    except RecursionError:
        raise ParseError("The HL7 message is nested too deeply", control_id=control_id) from None
    except (
        hl7.ParseException,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        AssertionError,
    ):
        # python-hl7 reports malformed segments in several ways, asserting on some.
        raise ParseError(
            "The HL7 message cannot be read: malformed segments", control_id=control_id
        ) from None


def _check_encoding_characters(text: str) -> None:
    """MSH-1 and MSH-2: a field separator and 4 (or 5) distinct delimiter characters."""
    separator = text[3]
    encoding = text[4:].split(separator, 1)[0]
    delimiters = separator + encoding
    if (
        len(encoding) not in (4, 5)
        or len(set(delimiters)) != len(delimiters)
        or any(c.isalnum() or c.isspace() for c in delimiters)
    ):
        raise ParseError(
            f"MSH-1/MSH-2 encoding characters {clip(delimiters)!r} are not valid; expected |^~\\&"
        )


def _get(segment, field: int, repeat: int = 1, component: int = 1, sub: int = 1) -> str:
    try:
        value = segment.extract_field(1, field, repeat, component, sub)
    except IndexError:
        return ""
    return str(value or "").strip()


def _repetitions(segment, field: int) -> int:
    count = 0
    for repeat in range(1, MAX_REPETITIONS + 1):
        try:
            segment.extract_field(1, field, repeat, 1, 1)
        except IndexError:
            break
        count = repeat
    return count


def _message(message, control_id: str) -> ParsedMessage:
    msh = message.segments("MSH")[0]
    kind = "^".join(p for p in (_get(msh, 9, 1, 1), _get(msh, 9, 1, 2)) if p)
    if kind not in SUPPORTED:
        raise ParseError(
            f"Message type {clip(kind or 'missing')!r} is not supported; send ORU^R01",
            control_id=control_id,
        )

    mrn, birth_date = "", None
    reports: list[_Report] = []
    for segment in message:
        name = str(segment[0]).strip()
        if name == "PID":
            mrn, birth_date = _pid(segment)
        elif name == "OBR":
            reports.append(_Report(segment, mrn, birth_date))
        elif name in ("OBX", "SPM", "NTE") and reports:
            reports[-1].add(name, segment)
        elif name == "OBX":
            raise ParseError("An OBX segment comes before any OBR", control_id=control_id)
    if not reports:
        raise ParseError("The message holds no OBR (no report)", control_id=control_id)
    return ParsedMessage(
        reports=tuple(r.parsed() for r in reports),
        control_id=control_id,
        message_type=kind,
    )


def _pid(segment) -> tuple[str, date | None]:
    mrn = ""
    for repeat in range(1, _repetitions(segment, 3) + 1):
        value = _get(segment, 3, repeat, 1)
        if value and _get(segment, 3, repeat, 5).upper() == "MR":
            mrn = value
            break
        if value and not mrn:
            mrn = value
    birth = _get(segment, 7)
    return mrn, _date(birth, "PID-7 birth date") if birth else None


def _date(text: str, what: str) -> date | None:
    """An HL7 DTM's date: YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]; a bare year or month is too vague."""
    digits = re.match(r"\d+", text)
    if not digits or len(digits.group()) < 8:
        raise ParseError(f"{what} {clip(text)!r} is not a date (YYYYMMDD…)")
    stamp = digits.group()
    try:
        return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))
    except ValueError:
        raise ParseError(f"{what} {clip(text)!r} is not a date (YYYYMMDD…)") from None


class _Report:
    """One OBR and the OBX, SPM and NTE segments that follow it."""

    def __init__(self, obr, mrn: str, birth_date: date | None) -> None:
        self.obr = obr
        self.mrn = mrn
        self.birth_date = birth_date
        self.spm = None
        self.groups: OrderedDict[str, list] = OrderedDict()
        self.loose: list = []
        self.notes: list[str] = []

    def add(self, name: str, segment) -> None:
        if name == "SPM":
            self.spm = self.spm or segment
        elif name == "NTE":
            note = _get(segment, 3)
            if note:
                self.notes.append(note)
        else:
            sub_id = _get(segment, 4)
            if sub_id:
                self.groups.setdefault(sub_id, []).append(segment)
            else:
                self.loose.append(segment)

    def parsed(self) -> ParsedReport:
        obr = self.obr
        code = _get(obr, 25).upper()
        status = STATUSES.get(code)
        if status is None:
            raise ParseError(
                f"OBR-25 result status {clip(code or 'missing')!r} cannot be imported; "
                "expected F (final), C (corrected), X (cannot be done) or P (preliminary)"
            )
        accession = _get(obr, 3)
        if not accession and self.spm is not None:
            # SPM-2 is placer^filler, each an EI (id&namespace): the filler's id is the lab's.
            accession = _get(self.spm, 2, 1, 2) or _get(self.spm, 2, 1, 1)
        collected = _get(obr, 7)
        if not collected and self.spm is not None:
            collected = _get(self.spm, 17)
        reported = _get(obr, 22)

        variants: list[ParsedVariant] = []
        findings: list[str] = []
        for rows in self.groups.values():
            variant, finding = _group(rows)
            if variant is not None:
                variants.append(variant)
            if finding:
                findings.append(finding)
        findings.extend(_finding(row) for row in self.loose)
        findings.extend(short_text(note) for note in self.notes)

        report = ParsedReport(
            source_format="hl7v2",
            report_id=accession or _get(obr, 2),
            status=status,
            mrn=self.mrn,
            birth_date=self.birth_date,
            accession=accession,
            collected_on=_date(collected, "OBR-7 collection date") if collected else None,
            reported_on=_date(reported, "OBR-22 report date") if reported else None,
            assay=_get(obr, 4, 1, 2) or _get(obr, 4, 1, 1),
            variants=tuple(variants),
            other_findings=tuple(f for f in findings if f),
        )
        return with_hash(report, fallback_id=True)


def _value(row) -> str:
    """OBX-5 as written: a coded value's code (CWE.1), else its text, else the value."""
    kind = _get(row, 2).upper()
    if kind in ("CWE", "CE", "CNE", "CF"):
        return _get(row, 5, 1, 1) or _get(row, 5, 1, 2)
    repeats = max(_repetitions(row, 5), 1)
    return " ".join(v for v in (_get(row, 5, r, 1) for r in range(1, repeats + 1)) if v)


def _value_text(row) -> str:
    kind = _get(row, 2).upper()
    if kind in ("CWE", "CE", "CNE", "CF"):
        return _get(row, 5, 1, 2) or _get(row, 5, 1, 1)
    if kind == "SN":  # structured numeric: comparator^num1^separator^num2
        return "".join(_get(row, 5, 1, c) for c in range(1, 5))
    value = _value(row)
    unit = _get(row, 6, 1, 1)
    return f"{value} {unit}".strip() if value else ""


def _group(rows) -> tuple[ParsedVariant | None, str]:
    by_code: dict[str, list] = {}
    for row in rows:
        by_code.setdefault(_get(row, 3, 1, 1), []).append(row)
    if not ({GENE, PROTEIN_CHANGE, VAF, VARIANT} & by_code.keys()):
        return None, short_text("; ".join(filter(None, (_finding(r) for r in rows))))

    symbols = [gene_symbol(_get(row, 5, 1, 2), _get(row, 5, 1, 1)) for row in by_code.get(GENE, [])]
    symbols = [s for s in symbols if s]
    gene = fusion_gene(symbols)
    protein = next((_value(r) for r in by_code.get(PROTEIN_CHANGE, []) if _value(r)), "")
    vaf = None
    for row in by_code.get(VAF, []):
        text = _value(row)
        if text:
            what = f"The VAF of {gene or 'a variant'}"
            vaf = vaf_from(parse_decimal(text, what), _get(row, 6, 1, 1), what)
            break

    text = ""
    if not protein or len(symbols) != 1:
        parts = ["::".join(symbols) + " fusion"] if len(symbols) > 1 else []
        for code, label in DESCRIBING.items():
            parts.extend(f"{label} {_value_text(r)}" for r in by_code.get(code, []) if _value(r))
        text = short_text("; ".join(parts)) or (
            f"variant {protein} (gene not reported)" if protein and not gene else "variant"
        )

    presence = {_get(r, 5, 1, 1) for r in by_code.get(VARIANT, [])}
    if ABSENT in presence and PRESENT not in presence:
        label = " ".join(p for p in (gene, protein or text) if p)
        return None, short_text(f"Not detected: {label}" if label else "Variant not detected")
    return ParsedVariant(gene=gene, protein_change=protein, vaf_percent=vaf, text=text), ""


def _finding(row) -> str:
    label = _get(row, 3, 1, 2) or _get(row, 3, 1, 1)
    value = _value_text(row)
    return short_text(f"{label}: {value}" if label and value else label or value)

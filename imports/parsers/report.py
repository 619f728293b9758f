"""What every laboratory-report parser returns: plain, immutable values.

Parsers are pure code (no models, no database). The import pipeline matches a
ParsedReport to a patient and draw and records it like a typed result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class ParsedVariant:
    gene: str  # HGNC symbol, upper-case, e.g. "ESR1"; "" if unknown
    protein_change: str  # as the lab wrote it, e.g. "NP_000116.2:p.Asp538Gly"; "" if none
    vaf_percent: Decimal | None  # None when not reported
    text: str = ""  # what the lab reported when not a plain variant (fusion, CNV...)


@dataclass(frozen=True)
class ParsedReport:
    source_format: str  # "fhir" | "hl7v2" | "csv"
    # FHIR: DiagnosticReport.identifier (else the content hash);
    # HL7 v2: OBR-3 filler order number (else OBR-2, else the content hash);
    # CSV: accession + reported_on
    report_id: str
    # "final" | "corrected" | "preliminary" | "failed"
    # (FHIR amended -> "corrected"; HL7 OBR-25 F/C/X)
    status: str
    mrn: str
    birth_date: date | None
    accession: str
    collected_on: date | None
    reported_on: date | None  # None: the pipeline uses the day of receipt
    assay: str  # as sent (may be ""), the pipeline maps it
    variants: tuple[ParsedVariant, ...]
    other_findings: tuple[str, ...] = ()  # TMB, MSI, ... kept as text, ignored by rules
    # sha256 of the report's clinical content (tells a real correction from a re-send)
    content_hash: str = ""


@dataclass(frozen=True)
class ParsedMessage:
    reports: tuple[ParsedReport, ...]
    control_id: str = ""  # HL7 MSH-10, for the ACK
    message_type: str = ""  # e.g. "ORU^R01"


class ParseError(ValueError):
    """Unreadable content (HTTP 400, MLLP AE/AR); str() is the reason.

    `control_id` is the HL7 MSH-10 when the message header could still be read (so the
    listener can name it in its negative ACK), else "".
    """

    def __init__(self, reason: str, *, control_id: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.control_id = control_id

"""Pure parsers for laboratory reports: FHIR Genomics bundles, HL7 v2 ORU^R01, CSV."""

from imports.parsers.csv import parse_csv
from imports.parsers.fhir import parse_fhir
from imports.parsers.hl7v2 import parse_hl7v2
from imports.parsers.report import ParsedMessage, ParsedReport, ParsedVariant, ParseError

__all__ = [
    "ParseError",
    "ParsedMessage",
    "ParsedReport",
    "ParsedVariant",
    "parse_csv",
    "parse_fhir",
    "parse_hl7v2",
]

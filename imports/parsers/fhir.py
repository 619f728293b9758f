"""FHIR R4 Genomics Reporting bundles -> ParsedMessage.

A Bundle (collection, transaction or document) holds one or more DiagnosticReports, each
with its Patient, Specimen and result Observations. Variant Observations (LOINC 69548-6)
may sit in the report's `result` or under a grouper's `hasMember`, and references may be
`Type/id`, absolute URLs or `urn:uuid:` full URLs. Everything else a report carries (tumour
mutational burden, MSI, implications) is kept as text in `other_findings`.

The bundle is validated with fhir.resources' R4B models, so malformed resources are a
ParseError naming the first problem, not a half-read report.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

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
    short_text,
    vaf_from,
    with_hash,
)
from imports.parsers.report import ParsedMessage, ParsedReport, ParsedVariant, ParseError

BUNDLE_TYPES = ("collection", "transaction", "document", "batch", "message")
STATUSES = {
    "final": "final",
    "amended": "corrected",
    "corrected": "corrected",
    "appended": "corrected",
    "preliminary": "preliminary",
    "partial": "preliminary",
    "registered": "preliminary",
}
# A report the laboratory could not produce: LOINC "Failure" as the overall interpretation,
# SNOMED CT "Not done" / "Procedure not done", or the words in the conclusion.
FAILED_CODES = {"LA9664-9", "385660001", "398090008", "281323002"}
FAILED_WORDS = re.compile(
    r"cannot be (?:done|performed)|could not be (?:done|performed|analy[sz]ed)|not done|"
    r"\bfail(?:ed|ure)\b|insufficient|unsuccessful|no result",
    re.IGNORECASE,
)
OVERALL_INTERPRETATION = "51968-6"
GROUPER = "grouper"
MAX_DEPTH = 8


def parse_fhir(raw: bytes | str) -> ParsedMessage:
    text = decode(raw, "The FHIR bundle")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"The FHIR bundle is not valid JSON: {exc}") from None
    except RecursionError:
        raise ParseError("The FHIR bundle is nested too deeply") from None
    if not isinstance(data, dict):
        raise ParseError("The FHIR content must be a JSON object (a Bundle)")
    kind = data.get("resourceType")
    if kind != "Bundle":
        raise ParseError(f"Expected a FHIR Bundle, got resourceType {clip(str(kind))!r}")
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        raise ParseError(f"The FHIR bundle is not valid R4: {_first_error(exc)}") from None
    except (ValueError, TypeError, LookupError, RecursionError) as exc:
        raise ParseError(f"The FHIR bundle is not valid R4: {clip(str(exc), 200)}") from None
    if bundle.type not in BUNDLE_TYPES:
        raise ParseError(f"Bundle type {bundle.type!r} is not a report bundle")

    index = _Index(bundle)
    reports = [
        _report(resource, index)
        for resource in index.resources
        if resource.get_resource_type() == "DiagnosticReport"
    ]
    if not reports:
        raise ParseError("The bundle holds no DiagnosticReport")
    return ParsedMessage(reports=tuple(reports), message_type="Bundle")


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return clip(str(exc), 200)
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return clip(f"{where}: {first.get('msg', '')}", 200)


class _Index:
    """Finds a bundle's resources by full URL, by `Type/id`, or by an absolute URL's tail."""

    def __init__(self, bundle: Bundle) -> None:
        self.resources = []
        self._by_key: dict[str, object] = {}
        for entry in bundle.entry or ():
            resource = entry.resource
            if resource is None:
                continue
            self.resources.append(resource)
            if entry.fullUrl:
                self._by_key.setdefault(entry.fullUrl, resource)
                tail = _type_id(entry.fullUrl)
                if tail:
                    self._by_key.setdefault(tail, resource)
            rid = getattr(resource, "id", None)
            if rid:
                self._by_key.setdefault(f"{resource.get_resource_type()}/{rid}", resource)

    def get(self, reference, kind: str | None = None):
        ref = getattr(reference, "reference", None) if reference is not None else None
        if not ref:
            return None
        found = self._by_key.get(ref) or self._by_key.get(_type_id(ref) or "")
        if found is None or (kind and found.get_resource_type() != kind):
            return None
        return found


def _type_id(url: str) -> str | None:
    # "http://x/fhir/Observation/abc/_history/2" and "Observation/abc" -> "Observation/abc"
    match = re.search(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$", url)
    return match.group(1) if match else None


def _report(report, index: _Index) -> ParsedReport:
    status = STATUSES.get(report.status)
    if status is None:
        raise ParseError(
            f"DiagnosticReport status {report.status!r} cannot be imported; "
            "expected final, amended, corrected or preliminary"
        )

    patient = index.get(report.subject, "Patient")
    mrn, birth_date = _patient(patient, report.subject)

    specimen = None
    for ref in report.specimen or ():
        specimen = index.get(ref, "Specimen")
        if specimen is not None:
            break
    accession, collected_on = _specimen(specimen)
    if collected_on is None:
        collected_on = _date(report.effectiveDateTime) or _date(
            report.effectivePeriod.start if report.effectivePeriod else None
        )

    variants: list[ParsedVariant] = []
    findings: list[str] = []
    coded_failure, worded_failure = _says_failed(report)
    failed = coded_failure
    seen: set[int] = set()

    def walk(reference, depth: int) -> None:
        nonlocal failed
        observation = index.get(reference, "Observation")
        if observation is None or id(observation) in seen or depth > MAX_DEPTH:
            return
        seen.add(id(observation))
        codes = _codes(observation.code)
        if VARIANT in codes:
            variant, absent_text = _variant(observation)
            if variant is not None:
                variants.append(variant)
            elif absent_text:
                findings.append(absent_text)
        elif GROUPER not in codes:
            if OVERALL_INTERPRETATION in codes and _codes(observation.valueCodeableConcept) & (
                FAILED_CODES
            ):
                failed = True
            findings.append(_finding(observation))
        for member in observation.hasMember or ():
            walk(member, depth + 1)

    for reference in report.result or ():
        walk(reference, 0)

    if variants and failed:
        raise ParseError(
            "The report says the test could not be done but lists variants; "
            "send either the variants or the failure"
        )
    # Words alone ("insufficient evidence…") never turn a report with variants into a failure.
    failed = failed or (worded_failure and not variants)
    if status in ("final", "corrected") and failed:
        status = "failed"
    identifier = next((i.value for i in report.identifier or () if i.value), "")
    parsed = ParsedReport(
        source_format="fhir",
        report_id=identifier.strip(),
        status=status,
        mrn=mrn,
        birth_date=birth_date,
        accession=accession,
        collected_on=collected_on,
        reported_on=_date(report.issued),
        assay=_assay(report),
        variants=tuple(variants),
        other_findings=tuple(f for f in findings if f),
    )
    return with_hash(parsed, fallback_id=True)


def _patient(patient, subject) -> tuple[str, date | None]:
    identifiers = list(getattr(patient, "identifier", None) or ())
    if not identifiers and subject is not None and subject.identifier is not None:
        identifiers = [subject.identifier]  # a logical reference: the MRN without a Patient
    mrn = ""
    for identifier in identifiers:
        if "MR" in _codes(identifier.type) and identifier.value:
            mrn = identifier.value
            break
    if not mrn:
        mrn = next((i.value for i in identifiers if i.value), "")
    birth = getattr(patient, "birthDate", None)
    # A partial birth date ("1962") cannot be compared with the patient's; treat as absent.
    return mrn.strip(), birth if isinstance(birth, date) else None


def _specimen(specimen) -> tuple[str, date | None]:
    if specimen is None:
        return "", None
    accession = ""
    if specimen.accessionIdentifier is not None and specimen.accessionIdentifier.value:
        accession = specimen.accessionIdentifier.value
    else:
        accession = next((i.value for i in specimen.identifier or () if i.value), "")
    collected = None
    if specimen.collection is not None:
        collection = specimen.collection
        collected = _date(collection.collectedDateTime) or _date(
            collection.collectedPeriod.start if collection.collectedPeriod else None
        )
    return accession.strip(), collected


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None  # partial dates ("2016", "2016-09") say too little to match a draw


def _codes(concept) -> set[str]:
    if concept is None:
        return set()
    return {c.code for c in concept.coding or () if c.code}


def _says_failed(report) -> tuple[bool, bool]:
    """(coded, worded): whether the conclusion codes or words say the test was not done."""
    coded = worded = False
    for concept in report.conclusionCode or ():
        coded = coded or bool(_codes(concept) & FAILED_CODES)
        words = [concept.text or ""] + [c.display or "" for c in concept.coding or ()]
        worded = worded or any(FAILED_WORDS.search(w) for w in words)
    worded = worded or bool(report.conclusion and FAILED_WORDS.search(report.conclusion))
    return coded, worded


def _assay(report) -> str:
    code = report.code
    if code is None:
        return ""
    if code.text:
        return code.text.strip()
    for coding in code.coding or ():
        if coding.display:
            return coding.display.strip()
    return next((c.code for c in code.coding or () if c.code), "")


def _concept_text(concept) -> str:
    if concept is None:
        return ""
    for coding in concept.coding or ():
        if coding.display:
            return coding.display
    if concept.text:
        return concept.text
    return next((c.code for c in concept.coding or () if c.code), "")


def _value_text(item) -> str:
    """The value[x] of an Observation or component as a reader would say it."""
    if item is None:
        return ""
    if getattr(item, "valueCodeableConcept", None) is not None:
        return _concept_text(item.valueCodeableConcept)
    quantity = getattr(item, "valueQuantity", None)
    if quantity is not None and quantity.value is not None:
        unit = quantity.unit or (quantity.code if quantity.code != "1" else "") or ""
        return f"{quantity.value} {unit}".strip()
    for name in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        value = getattr(item, name, None)
        if value is not None:
            return str(value)
    ratio = getattr(item, "valueRatio", None)
    if ratio is not None and ratio.numerator is not None and ratio.denominator is not None:
        return f"{ratio.numerator.value}/{ratio.denominator.value}"
    return ""


def _component(observation, code: str):
    return next(
        (c for c in observation.component or () if code in _codes(c.code)),
        None,
    )


def _variant(observation) -> tuple[ParsedVariant | None, str]:
    """The variant an Observation reports, or (None, text) when it reports one absent."""
    genes = [
        c.valueCodeableConcept
        for c in observation.component or ()
        if GENE in _codes(c.code) and c.valueCodeableConcept is not None
    ]
    symbols = [
        gene_symbol(
            *(cd.display for cd in concept.coding or ()),
            concept.text,
            *(cd.code for cd in concept.coding or ()),
        )
        for concept in genes
    ]
    symbols = [s for s in symbols if s]
    if not symbols:
        # "NM_000106.5(CYP2D6):c.886C>T": a discrete variant that names its gene
        described = _value_text(_component(observation, "81252-9"))
        named = re.search(r"\(([A-Za-z][A-Za-z0-9-]*)\)", described)
        if named:
            symbols = [gene_symbol(named.group(1))]
    gene = fusion_gene(symbols)

    protein = ""
    component = _component(observation, PROTEIN_CHANGE)
    if component is not None:
        concept = component.valueCodeableConcept
        if concept is not None:
            protein = next((c.code for c in concept.coding or () if c.code), "") or (
                concept.text or next((c.display for c in concept.coding or () if c.display), "")
            )
        else:
            protein = component.valueString or ""
    protein = protein.strip()

    vaf = None
    component = _component(observation, VAF)
    if component is not None and component.valueQuantity is not None:
        quantity = component.valueQuantity
        if quantity.value is not None:
            vaf = vaf_from(
                Decimal(str(quantity.value)),
                quantity.code or quantity.unit or "",
                f"The VAF of {gene or 'a variant'}",
            )

    text = ""
    if not protein or len(symbols) != 1:
        parts = []
        if len(symbols) > 1:
            parts.append("::".join(symbols) + " fusion")
        for component in observation.component or ():
            label = next((DESCRIBING[c] for c in _codes(component.code) if c in DESCRIBING), None)
            value = _value_text(component)
            if label and value:
                parts.append(f"{label} {value}")
        if observation.valueString:
            parts.append(observation.valueString)
        for note in observation.note or ():
            if note.text:
                parts.append(note.text)
        text = short_text("; ".join(parts)) or (
            "" if protein and gene else _concept_text(observation.code) or "variant"
        )
        if protein and not gene and text == _concept_text(observation.code):
            text = f"variant {protein} (gene not reported)"

    presence = _codes(observation.valueCodeableConcept)
    if ABSENT in presence and PRESENT not in presence:
        label = " ".join(p for p in (gene, protein or text) if p)
        return None, short_text(f"Not detected: {label}" if label else "Variant not detected")
    return ParsedVariant(gene=gene, protein_change=protein, vaf_percent=vaf, text=text), ""


def _finding(observation) -> str:
    label = observation.code.text if observation.code and observation.code.text else ""
    label = label or _concept_text(observation.code)
    value = _value_text(observation)
    if not value:
        parts = []
        for component in observation.component or ():
            part = _value_text(component)
            if part:
                parts.append(f"{_concept_text(component.code) or '?'}: {part}")
        value = "; ".join(parts)
    return short_text(f"{label}: {value}" if value else label)

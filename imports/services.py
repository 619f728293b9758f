"""The import pipeline (SPEC 7): parse -> match -> validate -> record -> keep.

`import_message` takes a message as received, parses it with the pure parsers, and for each
report it carries: recognises a re-sent report (duplicate) or a corrected one (which
supersedes the draw's current result), matches it to a patient's draw (accession, else MRN and
collection date, else a draw recorded from the report for a known MRN), checks the birth date
(a mismatch is held, never recorded: a wrong-patient result could switch a treatment), and
records it through the same services as a typed result (same validation, audit and
re-evaluation on commit). All of a message is recorded in one transaction: a report that is
rejected rejects the whole message and nothing of it is kept but the raw text and the reason.

A nurse settles an unmatched report from the inbox (`import_match`, `import_reject`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django.db.models import Q

from accounts.roles import Action, require
from config.errors import Conflict
from imports.models import Channel, Format, ImportMessage, ImportReport, State
from imports.parsers import (
    ParsedMessage,
    ParsedReport,
    ParseError,
    parse_csv,
    parse_fhir,
    parse_hl7v2,
)
from patients.models import Patient, clinic_today
from surveillance.models import Assay, Draw, Result, ResultStatus
from surveillance.services import (
    SAMPLE_STATUSES,
    draw_record,
    result_record,
    result_supersede,
)

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1024 * 1024  # as the request size limit (config.middleware)

PARSERS = {Format.FHIR: parse_fhir, Format.HL7V2: parse_hl7v2, Format.CSV: parse_csv}

# The worst state of a message's reports is the message's state (and its HTTP answer).
_SEVERITY = [State.REJECTED, State.UNMATCHED, State.PRELIMINARY, State.IMPORTED, State.DUPLICATE]
HTTP_STATUS = {
    State.IMPORTED: 201,
    State.DUPLICATE: 200,
    State.UNMATCHED: 202,
    State.PRELIMINARY: 202,
    State.REJECTED: 422,
}

# How laboratories name the assays the clinic knows (lower case, spaces and punctuation out).
_ASSAY_WORDS = {
    "guardant360cdx": Assay.GUARDANT360_CDX,
    "guardant360": Assay.GUARDANT360_CDX,
    "guardant": Assay.GUARDANT360_CDX,
    "foundationoneliquidcdx": Assay.FOUNDATIONONE_LIQUID_CDX,
    "foundationoneliquid": Assay.FOUNDATIONONE_LIQUID_CDX,
    "f1lcdx": Assay.FOUNDATIONONE_LIQUID_CDX,
    "ddpcresr1": Assay.DDPCR_ESR1,
    "esr1ddpcr": Assay.DDPCR_ESR1,
    "ddpcr": Assay.DDPCR_ESR1,
}


class MessageTooLarge(Exception):
    pass


class Unreadable(Exception):
    """The content could not be read at all (HTTP 400, ACK AR). The message is kept."""

    def __init__(self, message: ImportMessage):
        super().__init__(message.reason)
        self.message = message


class _Held(Exception):
    """This report waits in the inbox (unmatched), with the reason."""


class _Rejected(Exception):
    """This report cannot be recorded (an unreadable ESR1 change, an impossible date ...)."""


@dataclass
class _Outcome:
    state: str
    reason: str = ""
    patient: Patient | None = None
    draw: Draw | None = None
    result: Result | None = None
    new_draw: bool = False  # the draw was recorded from this report


def map_assay(text: str) -> str:
    """The clinic's assay code for what the laboratory called its test ('other' if unknown)."""
    key = "".join(ch for ch in (text or "").lower() if ch.isalnum())
    if key in Assay.values:
        return key
    for words, code in _ASSAY_WORDS.items():
        if words in key:
            return code
    compact = {code.replace("_", ""): code for code in Assay.values}
    return compact.get(key, Assay.OTHER)


def decode(raw: bytes | str) -> str:
    """The message as text to keep: UTF-8, else Latin-1 (HL7 v2 interfaces often still send
    it); a NUL byte, which Postgres text cannot hold, kept as U+FFFD."""
    if not isinstance(raw, str):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raw = raw.decode("latin-1")
    return raw.replace("\x00", "\ufffd")


def import_message(
    *, actor, fmt: str, raw: bytes | str, channel: str = Channel.API
) -> ImportMessage:
    """Import one message. Returns the stored message (state, reason, reports); raises
    MessageTooLarge (nothing kept) or Unreadable (kept, state rejected)."""
    require(actor, Action.IMPORT_REPORTS)
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"The message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}.")
    text = decode(raw)
    try:
        parsed = PARSERS[fmt](text)
        if not parsed.reports:
            raise ParseError("The message carries no laboratory report.")
    except ParseError as exc:
        message = ImportMessage.objects.create(
            format=fmt,
            channel=channel,
            raw=text,
            sender=actor,
            control_id=getattr(exc, "control_id", "")[:200],
            state=State.REJECTED,
            reason=f"Unreadable: {exc}",
        )
        raise Unreadable(message) from exc
    return import_parsed(actor=actor, fmt=fmt, text=text, parsed=parsed, channel=channel)


def import_parsed(
    *, actor, fmt: str, text: str, parsed: ParsedMessage, channel: str = Channel.API
) -> ImportMessage:
    """Match and record the reports of a parsed message (all of it or, if one report is
    rejected, none of it), keeping the raw text and each report's outcome."""
    require(actor, Action.IMPORT_REPORTS)
    try:
        with transaction.atomic():
            outcomes = [
                _import_report(actor=actor, fmt=fmt, report=report) for report in parsed.reports
            ]
            # Stored once every report's fate is known: the message is written with its state.
            state, reason = message_state([o.state for o in outcomes], [o.reason for o in outcomes])
            message = ImportMessage.objects.create(
                format=fmt,
                channel=channel,
                raw=text,
                sender=actor,
                control_id=parsed.control_id[:200],
                state=state,
                reason=reason,
            )
            reports = ImportReport.objects.bulk_create(
                _stored_report(message, position, report, outcome)
                for position, (report, outcome) in enumerate(
                    zip(parsed.reports, outcomes, strict=True)
                )
            )
    except _Rejected as exc:
        message = _store_rejected(actor, fmt, channel, text, parsed, str(exc))
    else:
        message.stored_reports = reports
    return message


def _import_report(*, actor, fmt: str, report: ParsedReport) -> _Outcome:
    """One report of a message, inside the message's transaction."""
    if report.report_id:
        # Two copies of one report arriving at once: the second waits, then finds the first.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [report.report_id])
    if report.status == "preliminary":
        return _Outcome(
            State.PRELIMINARY,
            "A preliminary report is kept but not recorded; the final report will be.",
        )
    earlier = _earlier_import(report)
    if earlier is not None:
        correction = report.status == "corrected" and (
            not report.content_hash or report.content_hash != earlier.content_hash
        )
        if not correction or earlier.state != State.IMPORTED:
            return _Outcome(
                State.DUPLICATE,
                f"Report {report.report_id} was received before (message {earlier.message_id}).",
                patient=earlier.patient,
                draw=earlier.draw,
                result=_current_result(earlier),
            )
        return _correct(actor=actor, fmt=fmt, report=report, earlier=earlier)
    try:
        patient, draw, recorded_now = _match(actor=actor, report=report)
    except _Held as held:
        return _Outcome(State.UNMATCHED, str(held))
    return _record(
        actor=actor, fmt=fmt, report=report, patient=patient, draw=draw, new_draw=recorded_now
    )


def _earlier_import(report: ParsedReport) -> ImportReport | None:
    if not report.report_id:
        return None
    return (
        ImportReport.objects.filter(
            report_id=report.report_id,
            state__in=[State.IMPORTED, State.UNMATCHED],
        )
        # Almost always none: its patient and draw are read only for a duplicate or a correction.
        .order_by("-id")
        .first()
    )


def _current_result(earlier: ImportReport) -> Result | None:
    if earlier.draw_id is None:
        return None
    return Result.objects.filter(draw_id=earlier.draw_id).first()


def _match(*, actor, report: ParsedReport) -> tuple[Patient, Draw, bool]:
    """The patient and draw this report belongs to (and whether the draw was recorded from
    the report just now), or _Held with the reason."""
    by_mrn = Patient.objects.filter(mrn=report.mrn).first() if report.mrn else None
    draw = None
    # The draws with the accession and the MRN's draws collected that day, in one query.
    by_accession, same_day = _draws_of(report, by_mrn)
    if report.accession:
        candidates = by_accession
        if len(candidates) > 1 and by_mrn is not None:
            candidates = [d for d in candidates if d.patient_id == by_mrn.pk]
        if len(candidates) > 1:
            raise _Held(
                f"Accession {report.accession} is recorded on {len(candidates)} draws; "
                "choose the draw by hand."
            )
        draw = candidates[0] if candidates else None
    if draw is not None:
        patient = draw.patient
        if report.mrn and patient.mrn != report.mrn:
            raise _Held(
                f"Accession {report.accession} belongs to a draw of patient MRN {patient.mrn}, "
                f"but the report names MRN {report.mrn}."
            )
    else:
        if by_mrn is None:
            if report.mrn:
                raise _Held(f"No patient has MRN {report.mrn}.")
            raise _Held("The report names no MRN and its accession matches no draw.")
        patient = by_mrn
    _check_birth_date(report, patient)
    if draw is None:
        draw = draw_by_date(report, patient, draws=same_day)
    if draw is None:
        # No sample of the patient that day, no collected draw with the accession: looked up
        # here already, so draw_record does not look again.
        new = _draw_from_report(actor, report, patient, looked_up=not by_accession)
        return patient, new, True
    return patient, draw, False


def _check_birth_date(report: ParsedReport, patient: Patient) -> None:
    if report.birth_date is not None and report.birth_date != patient.birth_date:
        raise _Held(
            f"Birth date mismatch: the report gives {report.birth_date.isoformat()}, patient "
            f"MRN {patient.mrn} was born {patient.birth_date.isoformat()}. Not recorded: check "
            "that the report is this patient's."
        )


def _draws_of(
    report: ParsedReport, by_mrn: Patient | None, *, with_accession: bool = True
) -> tuple[list[Draw], list[Draw]]:
    """The collected (or resulted) draws with the report's accession (unless not
    `with_accession`), and those of the MRN's patient collected on the report's collection
    date: one query for both."""
    wanted = Q()
    if with_accession and report.accession:
        # Every assay named: the (assay, accession) unique index then finds the draw.
        wanted |= Q(assay__in=Assay.values, accession=report.accession)
    if by_mrn is not None and report.collected_on is not None:
        wanted |= Q(patient=by_mrn, collected_on=report.collected_on)
    if not wanted:
        return [], []
    draws = list(
        Draw.objects.filter(wanted, status__in=SAMPLE_STATUSES)
        .select_related("patient")
        .order_by("id")
    )
    by_accession = [d for d in draws if report.accession and d.accession == report.accession]
    same_day = [
        d
        for d in draws
        if by_mrn is not None
        and d.patient_id == by_mrn.pk
        and d.collected_on == report.collected_on
    ]
    return by_accession, same_day


def draw_by_date(
    report: ParsedReport, patient: Patient, *, draws: list[Draw] | None = None
) -> Draw | None:
    """The patient's draw collected on the report's collection date (None: no such draw);
    `draws`: those draws, read already."""
    if report.collected_on is None:
        return None
    if draws is None:
        draws = _draws_of(report, patient, with_accession=False)[1]
    if len(draws) > 1 and report.assay:
        assay = map_assay(report.assay)
        draws = [d for d in draws if d.assay == assay] or draws
    if len(draws) > 1:
        raise _Held(
            f"Patient MRN {patient.mrn} has {len(draws)} draws collected "
            f"{report.collected_on.isoformat()}; choose the draw by hand."
        )
    return draws[0] if draws else None


def _draw_from_report(actor, report: ParsedReport, patient: Patient, *, looked_up: bool) -> Draw:
    if report.collected_on is None:
        raise _Held(
            f"Patient MRN {patient.mrn} found, but the report gives neither a known accession "
            "nor a collection date."
        )
    try:
        return draw_record(
            actor=actor,
            patient=patient,
            collected_on=report.collected_on,
            assay=map_assay(report.assay),
            accession=report.accession,
            source=report.source_format,
            looked_up=looked_up,
        )
    except ValidationError as exc:
        raise _Held(f"A draw could not be recorded from the report: {_words(exc)}") from exc
    except Conflict as exc:
        raise _Held(str(exc)) from exc


def result_rows(report: ParsedReport) -> list[dict]:
    return [
        {
            "gene": v.gene,
            "protein_change": v.protein_change,
            "vaf_percent": v.vaf_percent,
            "reported_text": v.text,
        }
        for v in report.variants
    ]


def result_status(report: ParsedReport) -> str:
    return ResultStatus.FAILED if report.status == "failed" else ResultStatus.FINAL


def _record(
    *, actor, fmt, report: ParsedReport, patient: Patient, draw: Draw, new_draw: bool = False
) -> _Outcome:
    # A draw recorded from this report moments ago, in this transaction, has no result yet.
    current = None if new_draw else Result.objects.filter(draw=draw).first()
    if current is not None:
        if report.status == "corrected":
            return _supersede(actor=actor, fmt=fmt, report=report, result=current)
        return _Outcome(
            State.UNMATCHED,
            f"Draw {draw.pk} already has result {current.pk}"
            f"{f' (report {current.report_id})' if current.report_id else ''}; a second report "
            "for the same sample is held for a nurse to check.",
            patient=patient,
            draw=draw,
        )
    try:
        result = result_record(
            actor=actor,
            draw=draw,
            reported_on=report.reported_on or clinic_today(),
            status=result_status(report),
            variants=[] if report.status == "failed" else result_rows(report),
            source=fmt,
            report_id=report.report_id[:200],
            draw_locked=new_draw,
        )
    except ValidationError as exc:
        raise _Rejected(_words(exc)) from exc
    return _Outcome(State.IMPORTED, patient=patient, draw=draw, result=result, new_draw=new_draw)


def _correct(*, actor, fmt, report: ParsedReport, earlier: ImportReport) -> _Outcome:
    current = _current_result(earlier)
    if current is None:
        raise _Rejected(f"The result report {report.report_id} corrects is no longer on record.")
    if report.birth_date is not None and earlier.patient is not None:
        try:
            _check_birth_date(report, earlier.patient)
        except _Held as held:
            return _Outcome(State.UNMATCHED, str(held))
    return _supersede(actor=actor, fmt=fmt, report=report, result=current)


def _supersede(*, actor, fmt, report: ParsedReport, result: Result) -> _Outcome:
    try:
        corrected = result_supersede(
            actor=actor,
            result=result,
            reported_on=report.reported_on or clinic_today(),
            status=result_status(report),
            variants=[] if report.status == "failed" else result_rows(report),
            source=fmt,
            report_id=report.report_id[:200],
        )
    except ValidationError as exc:
        raise _Rejected(_words(exc)) from exc
    draw = corrected.draw
    return _Outcome(
        State.IMPORTED,
        f"Corrected report: result {result.pk} superseded by result {corrected.pk}.",
        patient=draw.patient,
        draw=draw,
        result=corrected,
    )


def _stored_report(
    message: ImportMessage, position: int, report: ParsedReport, outcome: _Outcome
) -> ImportReport:
    stored = ImportReport(
        message=message,
        position=position,
        state=outcome.state,
        reason=outcome.reason,
        report_id=report.report_id[:200],
        report_status=report.status[:12],
        content_hash=report.content_hash[:64],
        mrn=report.mrn[:64],
        birth_date=report.birth_date,
        accession=report.accession[:64],
        collected_on=report.collected_on,
        reported_on=report.reported_on,
        assay=report.assay[:64],
        variants=[
            {
                "gene": v.gene,
                "protein_change": v.protein_change,
                "vaf_percent": None if v.vaf_percent is None else str(v.vaf_percent),
                "text": v.text,
            }
            for v in report.variants
        ],
        other_findings=list(report.other_findings),
        patient=outcome.patient,
        draw=outcome.draw,
        result=outcome.result,
    )
    stored.draw_recorded_now = outcome.new_draw  # for the preview (imports.inbox)
    return stored


def settle_message_state(message: ImportMessage, reports: list[ImportReport]) -> None:
    message.state, message.reason = message_state(
        [r.state for r in reports], [r.reason for r in reports]
    )
    message.save(update_fields=["state", "reason"])


def message_state(states: list[str], reasons: list[str]) -> tuple[str, str]:
    """A message's state (its reports' worst) and reason (the report's, or the counts)."""
    worst = min(range(len(states)), key=lambda i: _SEVERITY.index(states[i]))
    if len(states) == 1:
        return states[worst], reasons[worst]
    counts = {s: states.count(s) for s in _SEVERITY}
    return states[worst], ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def _store_rejected(actor, fmt, channel, text, parsed, reason: str) -> ImportMessage:
    with transaction.atomic():
        message = ImportMessage.objects.create(
            format=fmt,
            channel=channel,
            raw=text,
            sender=actor,
            control_id=parsed.control_id[:200],
            state=State.REJECTED,
            reason=reason,
        )
        ImportReport.objects.bulk_create(
            _stored_report(message, position, report, _Outcome(State.REJECTED, reason))
            for position, report in enumerate(parsed.reports)
        )
    return message


def _words(exc: ValidationError) -> str:
    """A refused write's messages as one line, for a rejected import's reason."""
    if hasattr(exc, "error_dict"):
        parts = []
        for field, errors in exc.error_dict.items():
            for error in errors:
                text = " ".join(error.messages)
                parts.append(text if field == NON_FIELD_ERRORS else f"{field}: {text}")
        return "; ".join(parts)
    return " ".join(exc.messages)

"""The inbox (SPEC 7): a nurse settles an unmatched report, matching it to a patient's draw
by hand or rejecting it with a reason; and the CSV upload's preview, which runs the pipeline
and rolls it back, so what it shows is what the import will do."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.roles import Action, require
from imports.models import ImportReport, State
from imports.parsers import ParsedReport, ParsedVariant, ParseError
from imports.services import (
    MAX_MESSAGE_BYTES,
    PARSERS,
    MessageTooLarge,
    decode,
    draw_by_date,
    import_parsed,
    map_assay,
    result_rows,
    result_status,
    settle_message_state,
)
from patients.models import Patient
from surveillance.models import Draw
from surveillance.services import draw_record, result_record

# --------------------------------------------------------------------------------------------
# The inbox: a nurse settles an unmatched report
# --------------------------------------------------------------------------------------------


def import_match(
    *,
    actor,
    report: ImportReport,
    patient: Patient,
    draw: Draw | None = None,
) -> ImportReport:
    """Record an unmatched report on `patient`, on `draw` (one of the patient's collected
    draws without a result) or, without one, on a draw recorded from the report's dates."""
    require(actor, Action.RECORD_RESULT)
    with transaction.atomic():
        locked = ImportReport.objects.select_for_update().get(pk=report.pk)
        if locked.state != State.UNMATCHED:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: [
                        f"This report is already {locked.get_state_display().lower()}."
                    ]
                }
            )
        parsed = _parsed_from_stored(locked)
        if draw is not None and draw.patient_id != patient.pk:
            raise ValidationError({"draw": [f"Draw {draw.pk} is not this patient's."]})
        if draw is None:
            draw = draw_by_date(parsed, patient) if parsed.collected_on else None
        if draw is None:
            if parsed.collected_on is None:
                raise ValidationError(
                    {"draw": ["The report gives no collection date: choose the patient's draw."]}
                )
            draw = draw_record(
                actor=actor,
                patient=patient,
                collected_on=parsed.collected_on,
                assay=map_assay(parsed.assay),
                accession=parsed.accession,
                source=locked.message.format,
            )
        result = result_record(
            actor=actor,
            draw=draw,
            reported_on=parsed.reported_on or locked.message.received_at.date(),
            status=result_status(parsed),
            variants=[] if parsed.status == "failed" else result_rows(parsed),
            source=locked.message.format,
            report_id=parsed.report_id,
        )
        locked.state = State.IMPORTED
        locked.reason = f"Matched by hand by {actor.get_username()}. {locked.reason}".strip()
        locked.patient, locked.draw, locked.result = patient, draw, result
        locked.settled_by, locked.settled_at = actor, timezone.now()
        locked.save()
        settle_message_state(locked.message, list(locked.message.reports.all()))
    return locked


def import_reject(*, actor, report: ImportReport, reason: str) -> ImportReport:
    require(actor, Action.RECORD_RESULT)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the report is rejected."]})
    with transaction.atomic():
        locked = ImportReport.objects.select_for_update().get(pk=report.pk)
        if locked.state != State.UNMATCHED:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: [
                        f"This report is already {locked.get_state_display().lower()}."
                    ]
                }
            )
        locked.state = State.REJECTED
        locked.reason = f"Rejected by {actor.get_username()}: {reason}"
        locked.settled_by, locked.settled_at = actor, timezone.now()
        locked.save()
        settle_message_state(locked.message, list(locked.message.reports.all()))
    return locked


def _parsed_from_stored(stored: ImportReport) -> ParsedReport:
    return ParsedReport(
        source_format=stored.message.format,
        report_id=stored.report_id,
        status=stored.report_status or "final",
        mrn=stored.mrn,
        birth_date=stored.birth_date,
        accession=stored.accession,
        collected_on=stored.collected_on,
        reported_on=stored.reported_on,
        assay=stored.assay,
        variants=tuple(
            ParsedVariant(
                gene=v.get("gene", ""),
                protein_change=v.get("protein_change", ""),
                vaf_percent=None
                if v.get("vaf_percent") in (None, "")
                else Decimal(v["vaf_percent"]),
                text=v.get("text", ""),
            )
            for v in stored.variants
        ),
        other_findings=tuple(stored.other_findings),
        content_hash=stored.content_hash,
    )


# --------------------------------------------------------------------------------------------
# Preview: what a batch would do, nothing saved
# --------------------------------------------------------------------------------------------


class _Preview(Exception):
    def __init__(self, rows: list[dict]):
        super().__init__("preview")
        self.rows = rows


def import_preview(*, actor, fmt: str, raw: bytes | str) -> list[dict]:
    """Each report of the message with what importing it would do (state, reason, patient,
    draw, variants), found by running the pipeline itself and rolling it back, so the preview
    cannot disagree with the import. Raises MessageTooLarge or ParseError."""
    require(actor, Action.IMPORT_REPORTS)
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"The file is {size} bytes; the limit is {MAX_MESSAGE_BYTES}.")
    text = decode(raw)
    parsed = PARSERS[fmt](text)
    if not parsed.reports:
        raise ParseError("The file carries no laboratory report.")
    try:
        with transaction.atomic():
            message = import_parsed(actor=actor, fmt=fmt, text=text, parsed=parsed)
            reports = getattr(message, "stored_reports", None) or list(
                message.reports.select_related("patient", "draw")
            )
            rows = [
                {
                    "state": r.state,
                    "reason": r.reason,
                    "mrn": r.mrn,
                    "accession": r.accession,
                    "collected_on": r.collected_on,
                    "reported_on": r.reported_on,
                    "patient": r.patient and str(r.patient),
                    "patient_id": r.patient_id,
                    "draw": _draw_words(r.draw, new=getattr(r, "draw_recorded_now", False)),
                    "variants": r.variants,
                    "report_status": r.report_status,
                }
                for r in reports
            ]
            raise _Preview(rows)
    except _Preview as preview:
        return preview.rows


def _draw_words(draw: Draw | None, *, new: bool) -> str:
    if draw is None:
        return ""
    if new:
        return f"a new draw collected {draw.collected_on} ({draw.get_assay_display()})"
    return f"draw {draw.pk}, collected {draw.collected_on} ({draw.get_assay_display()})"

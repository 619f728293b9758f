"""Writes to draws and results (SPEC sections 3, 4 and 5.4).

Each write validates everything first and raises one `ValidationError` keyed by field (the
shape in config.errors), then makes its change in one transaction with the audit context and
the re-evaluation mark (`patients.outbox.patient_changed`), so a change is never
half-saved and never goes unevaluated. The API and the HTML forms both call these;
serializers and forms only parse.

Variant rows are validated one by one and every problem is reported, each as a
`VariantRowError` under `variants` (row index, field, message): the API nests it as
`{"variants": {"1": {"protein_change": [...]}}}`, the result form shows it on its row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

import pghistory
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from accounts.roles import Action, require
from config.errors import Conflict, Errors, RowError
from patients.models import Patient, clinic_today
from patients.outbox import patient_changed
from surveillance import variants as esr1_variants
from surveillance.models import (
    Assay,
    Draw,
    DrawStatus,
    Result,
    ResultSource,
    ResultStatus,
    Variant,
)

VAF_MAX_DECIMAL_PLACES = 4  # Variant.vaf_percent is numeric(7, 4)
CANCEL_REASON_MAX_LENGTH = Draw._meta.get_field("cancel_reason").max_length
ACCESSION_MAX_LENGTH = Draw._meta.get_field("accession").max_length
GENE_MAX_LENGTH = Variant._meta.get_field("gene").max_length
_GENE_SYMBOL = re.compile(r"[A-Z][A-Z0-9-]*", re.ASCII)


class VariantRowError(RowError):
    """A problem in one variant row of a result; its plain message reads
    "Variant 2, protein change: ..."."""

    noun = "Variant"
    labels = {
        "gene": "gene",
        "protein_change": "protein change",
        "vaf_percent": "VAF",
        NON_FIELD_ERRORS: "entry",
    }


# --------------------------------------------------------------------------------------------
# Draws
# --------------------------------------------------------------------------------------------

# The statuses of a draw that stands for a sample in hand (draw_once_per_patient_day_assay).
SAMPLE_STATUSES = (DrawStatus.COLLECTED, DrawStatus.RESULTED)


class DuplicateDraw(Conflict):
    """The sample is already recorded: the same patient, collection day and assay."""

    def __init__(self, draw: Draw):
        self.draw = draw
        label = Assay(draw.assay).label if draw.assay in Assay.values else draw.assay
        accession = f", accession {draw.accession}" if draw.accession else ""
        super().__init__(
            f"This sample is already recorded: draw {draw.pk}, {label} collected "
            f"{draw.collected_on}{accession}. Nothing new was saved; a second draw of the "
            f"same patient, day and assay would wait for a result that never comes."
        )

    def body(self) -> dict:
        return {"draw": self.draw.pk}


def draw_record(
    *,
    actor,
    patient: Patient,
    collected_on: date,
    assay: str,
    accession: str = "",
    source: str = ResultSource.MANUAL,
    looked_up: bool = False,
) -> Draw:
    """Record a collected blood sample. A planned draw of the patient is fulfilled in place
    (same row, `due_date` kept for on-time rates, pin cleared); otherwise a new draw is made.
    `source` other than manual: recorded from a laboratory report being imported.
    `looked_up`: the caller (the import pipeline) has just looked, in its own transaction,
    for the patient's samples collected that day (any assay) and for collected draws with
    this accession, and found none, so those lookups are not made again here; a draw
    recorded since is still refused by the constraints, with the same messages."""
    require(actor, _recording_action(source, Action.RECORD_DRAW))
    accession = (accession or "").strip()
    errors = Errors()
    _check_draw(errors, patient=patient, collected_on=collected_on, assay=assay)
    errors.raise_if_any()
    if not looked_up:
        # Before the accession: a double-submitted form repeats its accession too, and what
        # it needs to hear is that the sample is already recorded, not that the tube clashes.
        existing = _same_sample(patient_id=patient.pk, collected_on=collected_on, assay=assay)
        if existing is not None:
            raise DuplicateDraw(existing)
    _check_accession(errors, assay=assay, accession=accession, look_up=not looked_up)
    errors.raise_if_any()

    try:
        with pghistory.context(user=actor.pk), transaction.atomic():
            # Locked so a concurrent recording (or the engine replanning) cannot fulfil the
            # same planned draw twice; the loser finds no planned draw and creates its own.
            draw = (
                Draw.objects.select_for_update()
                .filter(patient=patient, status=DrawStatus.PLANNED)
                .first()
            )
            if draw is None:
                draw = Draw(patient=patient)
            draw.status = DrawStatus.COLLECTED
            draw.collected_on = collected_on
            draw.assay = assay
            draw.accession = accession
            draw.pinned = False
            draw.save()
            patient_changed(patient.pk)
    except IntegrityError as exc:
        # A concurrent recording won the race between our checks and our write.
        existing = _same_sample(patient_id=patient.pk, collected_on=collected_on, assay=assay)
        if existing is not None:
            raise DuplicateDraw(existing) from exc
        raise _integrity_error(exc, assay=assay, accession=accession) from exc
    return draw


def _same_sample(*, patient_id: int, collected_on: date, assay: str) -> Draw | None:
    return (
        Draw.objects.filter(
            patient_id=patient_id,
            collected_on=collected_on,
            assay=assay,
            status__in=SAMPLE_STATUSES,
        )
        .order_by("id")
        .first()
    )


def draw_cancel(*, actor, draw: Draw, reason: str) -> Draw:
    """Cancel a draw recorded by mistake. Draws are never deleted: the row and its history
    stay on the audit trail, and the surveillance rules ignore a cancelled draw.

    The accession is released (cleared on the row; the audit history keeps it) because the
    usual mistake is a tube entered against the wrong patient, and the same accession must
    then be recordable on the right one: it is unique per assay across all draws."""
    require(actor, Action.RECORD_DRAW)
    reason = (reason or "").strip()
    errors = Errors()
    if not reason:
        errors.add("reason", "Say why the draw is cancelled (e.g. recorded for the wrong patient).")
    elif len(reason) > CANCEL_REASON_MAX_LENGTH:
        errors.add("reason", f"Keep the reason to {CANCEL_REASON_MAX_LENGTH} characters or fewer.")
    status_error = _cancel_status_error(draw.status, draw.pk)
    if status_error:
        errors.add(NON_FIELD_ERRORS, status_error)
    errors.raise_if_any()

    with pghistory.context(user=actor.pk), transaction.atomic():
        locked = Draw.objects.select_for_update().get(pk=draw.pk)
        # Re-checked under the lock: a result may have been recorded since the caller read.
        status_error = _cancel_status_error(locked.status, locked.pk)
        if status_error:
            raise ValidationError({NON_FIELD_ERRORS: [status_error]})
        locked.status = DrawStatus.CANCELLED
        locked.cancel_reason = reason
        locked.accession = ""
        locked.pinned = False
        locked.save(update_fields=["status", "cancel_reason", "accession", "pinned", "updated_at"])
        patient_changed(locked.patient_id)
    return locked


def _cancel_status_error(status: str, draw_id: int) -> str | None:
    if status == DrawStatus.RESULTED:
        return (
            f"Draw {draw_id} has a result and cannot be cancelled; a reported result stays "
            f"on the record."
        )
    if status == DrawStatus.CANCELLED:
        return f"Draw {draw_id} is already cancelled."
    if status == DrawStatus.PLANNED:
        return (
            f"Draw {draw_id} is only planned; planned draws follow the surveillance schedule "
            f"and are not cancelled by hand."
        )
    return None


def _check_draw(errors: Errors, *, patient: Patient, collected_on, assay: str) -> None:
    if not isinstance(collected_on, date):
        errors.add("collected_on", "Give the date the sample was collected (YYYY-MM-DD).")
    else:
        today = clinic_today()
        if collected_on > today:
            errors.add(
                "collected_on",
                f"The collection date {collected_on} is in the future (today is {today}).",
            )
        elif collected_on < patient.birth_date:
            errors.add(
                "collected_on",
                f"The collection date {collected_on} is before the patient's birth date "
                f"{patient.birth_date}.",
            )
    if assay not in Assay.values:
        errors.add("assay", f"Unknown assay {assay!r}. Choose one of: {', '.join(Assay.values)}.")


def _check_accession(errors: Errors, *, assay: str, accession: str, look_up: bool = True) -> None:
    if not accession:
        return
    if len(accession) > ACCESSION_MAX_LENGTH:
        errors.add("accession", f"Keep the accession to {ACCESSION_MAX_LENGTH} characters.")
        return
    if not look_up:
        return
    clash = Draw.objects.filter(assay=assay, accession=accession).first()
    if clash is not None:
        errors.add("accession", _accession_clash(clash))


def _accession_clash(clash: Draw) -> str:
    label = Assay(clash.assay).label if clash.assay in Assay.values else clash.assay
    return (
        f"Accession {clash.accession} is already recorded for a {label} sample "
        f"(draw {clash.pk}, collected {clash.collected_on}). Check the label on the tube; "
        f"accessions are unique per assay."
    )


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def result_record(
    *,
    actor,
    draw: Draw,
    reported_on: date,
    status: str,
    variants: Iterable[Mapping] = (),
    comment: str = "",
    source: str = ResultSource.MANUAL,
    report_id: str = "",
    draw_locked: bool = False,
) -> Result:
    """Record the laboratory report for a collected draw: variants in canonical form, the
    derived ESR1 status, and the draw marked resulted. `source` and `report_id` say where an
    imported report came from (imports/services.py). `draw_locked`: the caller recorded the
    draw in its own transaction moments ago (draw_record), so the row is its own already and
    is neither locked nor read again, the result is written without a savepoint of its own
    (a failure fails the caller's transaction, which holds the new draw too), and the patient
    is not marked for evaluation again (draw_record did, in the same transaction)."""
    require(actor, _recording_action(source, Action.RECORD_RESULT))
    rows = list(variants or [])
    comment = (comment or "").strip()

    errors = Errors()
    # The draw's status here; whether a result exists is asked under the lock below.
    draw_error = _draw_status_error(draw)
    if draw_error:
        errors.add("draw", draw_error)
    if status not in ResultStatus.values:
        errors.add(
            "status",
            f"Unknown result status {status!r}. Choose one of: {', '.join(ResultStatus.values)}.",
        )
    reported_error = _reported_on_error(reported_on, draw)
    if reported_error:
        errors.add("reported_on", reported_error)
    normalised, variant_errors = _normalise_rows(rows, result_status=status)
    errors.extend("variants", variant_errors)
    errors.raise_if_any()

    esr1 = esr1_variants.esr1_status(status, normalised)
    try:
        with pghistory.context(user=actor.pk), transaction.atomic(savepoint=not draw_locked):
            if draw_locked:
                locked, draw_error = draw, None
            else:
                locked = Draw.objects.select_for_update().get(pk=draw.pk)
                # Checked under the lock: another report or a cancellation may have won.
                draw_error = _result_draw_error(locked)
            if draw_error:
                raise ValidationError({"draw": [draw_error]})
            result = Result.objects.create(
                draw=locked,
                reported_on=reported_on,
                status=status,
                esr1_status=esr1,
                comment=comment,
                source=source,
                report_id=report_id,
            )
            create_variants(result, normalised)
            locked.status = DrawStatus.RESULTED
            locked.save(update_fields=["status", "updated_at"])
            if not draw_locked:  # else draw_record marked the patient moments ago
                patient_changed(locked.patient_id)
    except IntegrityError as exc:
        raise _integrity_error(exc) from exc
    return result


def create_variants(result: Result, normalised: list[esr1_variants.NormalisedVariant]) -> None:
    """Store a result's variants, normalised by `_normalise_rows` (also a corrected report's)."""
    Variant.objects.bulk_create(
        [
            Variant(
                result=result,
                gene=v.gene,
                protein_change=v.protein_change,
                short=v.short,
                vaf_percent=v.vaf_percent,
                esr1_activating=v.esr1_activating,
                esr1_vus=v.esr1_vus,
                reported_text=v.reported_text,
            )
            for v in normalised
        ]
    )


def _recording_action(source: str, typed: str) -> str:
    """Typing a result needs the role's recording permission; an imported laboratory report
    is recorded under the permission to import reports (an interface account has only that)."""
    return typed if source == ResultSource.MANUAL else Action.IMPORT_REPORTS


def _result_draw_error(draw: Draw) -> str | None:
    """Why this draw cannot take a result, asked under its lock: its status, or a result
    already on it."""
    error = _draw_status_error(draw)
    if error is None and Result.objects.filter(draw_id=draw.pk).exists():
        error = _already_resulted(draw)
    return error


def _draw_status_error(draw: Draw) -> str | None:
    if draw.status == DrawStatus.PLANNED:
        return (
            f"Draw {draw.pk} has not been collected yet; record the collection first, "
            f"then its result."
        )
    if draw.status == DrawStatus.CANCELLED:
        return f"Draw {draw.pk} was cancelled; a cancelled draw cannot carry a result."
    if draw.status == DrawStatus.RESULTED:
        return _already_resulted(draw)
    return None


def _already_resulted(draw: Draw) -> str:
    return (
        f"Draw {draw.pk} already has a result. A draw has one result; a corrected report "
        f"is not recorded over it."
    )


def _reported_on_error(reported_on, draw: Draw) -> str | None:
    if not isinstance(reported_on, date):
        return "Give the date the laboratory reported the result (YYYY-MM-DD)."
    today = clinic_today()
    if reported_on > today:
        return f"The report date {reported_on} is in the future (today is {today})."
    if draw.collected_on and reported_on < draw.collected_on:
        return (
            f"The report date {reported_on} is before the sample was collected "
            f"({draw.collected_on})."
        )
    return None


def _normalise_rows(
    rows: list, *, result_status: str
) -> tuple[list[esr1_variants.NormalisedVariant], list[str | VariantRowError]]:
    """The variants in canonical form, or the errors: a `VariantRowError` for each problem
    in a row when any row is wrong, else a message about the list as a whole."""
    if result_status == ResultStatus.FAILED and rows:
        return [], [
            "A failed result carries no variants: the sample could not be analysed. "
            "Send the variants with status 'final', or send no variants."
        ]
    normalised: list[esr1_variants.NormalisedVariant] = []
    row_errors: list[VariantRowError] = []
    seen: dict[tuple[str, str], int] = {}

    def problem(index: int, field: str, message: str) -> VariantRowError:
        return VariantRowError(index, field, message, row_count=len(rows))

    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            expected = "expected gene, protein_change, vaf_percent"
            row_errors.append(problem(index, NON_FIELD_ERRORS, expected))
            continue
        errors_before = len(row_errors)
        variant = None
        text = row.get("reported_text") or ""
        if not isinstance(text, str):
            row_errors.append(problem(index, "reported_text", "Give the reported text as text."))
            text = ""
        vaf, vaf_error = _parse_vaf(row.get("vaf_percent"))
        if vaf_error:
            row_errors.append(problem(index, "vaf_percent", vaf_error))
        try:
            gene = _gene_symbol(row.get("gene"), optional=bool(text.strip()))
        except esr1_variants.VariantParseError as exc:
            row_errors.append(problem(index, "gene", str(exc)))
        else:
            try:
                variant = esr1_variants.normalise_variant(
                    gene, _protein_change(row.get("protein_change")), vaf, text
                )
            except esr1_variants.VariantParseError as exc:
                row_errors.append(problem(index, "protein_change", str(exc)))
        if variant is not None and variant.protein_change:
            key = (variant.gene, variant.protein_change)
            if key in seen:
                row_errors.append(
                    problem(
                        index,
                        "protein_change",
                        f"{variant.gene} {variant.short} is already listed as variant "
                        f"{seen[key] + 1}; list each variant once.",
                    )
                )
            else:
                seen[key] = index
        if variant is not None and len(row_errors) == errors_before:
            normalised.append(variant)
    return (normalised, []) if not row_errors else ([], row_errors)


def _protein_change(value) -> str:
    """The change as written; reading it is normalise_variant's job. Blank is allowed: a
    laboratory may report a gene's finding (a copy-number gain) without a protein change."""
    if value is not None and not isinstance(value, str):
        raise esr1_variants.VariantParseError(
            "Give the protein change as text, e.g. D538G or p.Asp538Gly."
        )
    return (value or "").strip()


def _gene_symbol(value, *, optional: bool = False) -> str:
    """The gene's symbol; blank only when `optional` (a laboratory's complex variant or
    haplotype reported without one, kept as text)."""
    if value is not None and not isinstance(value, str):
        raise esr1_variants.VariantParseError("Give the gene as a symbol, e.g. ESR1.")
    if optional and not (value or "").strip():
        return ""
    symbol = esr1_variants.normalise_gene(value)
    if len(symbol) > GENE_MAX_LENGTH or not _GENE_SYMBOL.fullmatch(symbol):
        raise esr1_variants.VariantParseError(
            f"{symbol[: GENE_MAX_LENGTH + 1]!r} is not a gene symbol; "
            f"write it as in ESR1 or PIK3CA."
        )
    return symbol


def _parse_vaf(value) -> tuple[Decimal | None, str | None]:
    """The VAF in percent; None when not reported (the variant still counts as present)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        return None, "Give the variant allele fraction in percent, e.g. 0.4 for 0.4%."
    try:
        vaf = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None, f"{value!r} is not a number; give the VAF in percent, e.g. 0.4."
    if not vaf.is_finite():
        return None, "The VAF must be a number from above 0 to 100."
    if vaf <= 0:
        return None, (
            f"The VAF must be above 0% (got {vaf}); a variant that was not detected "
            f"is left out of the list."
        )
    if vaf > 100:
        return None, f"The VAF is a percentage and cannot exceed 100 (got {vaf})."
    if vaf.normalize().as_tuple().exponent < -VAF_MAX_DECIMAL_PLACES:
        return None, f"Give the VAF with at most {VAF_MAX_DECIMAL_PLACES} decimal places."
    return vaf, None


# --------------------------------------------------------------------------------------------
# Shared
# --------------------------------------------------------------------------------------------


def _integrity_error(
    exc: IntegrityError, *, assay: str = "", accession: str = ""
) -> ValidationError:
    """A race lost to a database constraint, told as the field error the checks would give."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
    if constraint == "draw_accession_unique_per_assay":
        clash = Draw.objects.filter(assay=assay, accession=accession).first() if accession else None
        if clash is not None:
            return ValidationError({"accession": [_accession_clash(clash)]})
        return ValidationError(
            {"accession": ["This accession was recorded for the same assay a moment ago."]}
        )
    if constraint.endswith("draw_id_key") or "result_draw" in constraint:
        return ValidationError({"draw": ["A result for this draw was recorded a moment ago."]})
    return ValidationError(
        {NON_FIELD_ERRORS: ["This conflicts with a change saved at the same time. Try again."]}
    )

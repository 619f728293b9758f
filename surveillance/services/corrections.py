"""A corrected laboratory report (SPEC 3 and 7): it replaces the draw's current result.

The earlier result is never changed or deleted: it moves to the draw's history, marked
superseded, with its variants, and names the result that replaced it. The patient is marked
for re-evaluation, and every open ESR1 alert whose evidence included the earlier result has its
`evidence_version` moved on in the same transaction, so a decision taken on what the clinician
saw before the correction is refused (services/decisions.py) whatever the engine then makes of
the new result (a correction to "not detected" leaves an ESR1 alert open, for the oncologist to
close, but never unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import pghistory
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.roles import Action, require
from config.errors import Errors
from patients.outbox import patient_changed
from surveillance import variants as esr1_variants
from surveillance.models import (
    ESR1_KINDS,
    Alert,
    AlertStatus,
    Draw,
    DrawStatus,
    Result,
    ResultSource,
    ResultStatus,
)
from surveillance.services.records import (
    _normalise_rows,
    _reported_on_error,
    create_variants,
)


def result_supersede(
    *,
    actor,
    result: Result,
    reported_on: date,
    status: str,
    variants: Iterable[Mapping] = (),
    comment: str = "",
    source: str = ResultSource.MANUAL,
    report_id: str = "",
) -> Result:
    """Record a corrected report for `result`'s draw: a new current result, the earlier one
    kept in the history as superseded. Validated like a typed result."""
    require(actor, Action.IMPORT_REPORTS if source != ResultSource.MANUAL else Action.RECORD_RESULT)
    rows = list(variants or [])
    errors = Errors()
    if result.draw_id is None:
        errors.add("result", f"Result {result.pk} has already been superseded by a later report.")
    if status not in ResultStatus.values:
        errors.add(
            "status",
            f"Unknown result status {status!r}. Choose one of: {', '.join(ResultStatus.values)}.",
        )
    draw = result.draw
    if draw is not None:
        reported_error = _reported_on_error(reported_on, draw)
        if reported_error:
            errors.add("reported_on", reported_error)
    normalised, variant_errors = _normalise_rows(rows, result_status=status)
    errors.extend("variants", variant_errors)
    errors.raise_if_any()

    esr1 = esr1_variants.esr1_status(status, normalised)
    now = timezone.now()
    with pghistory.context(user=actor.pk, correction_of=result.pk), transaction.atomic():
        locked_draw = Draw.objects.select_for_update().get(pk=draw.pk)
        earlier = Result.objects.select_for_update().get(pk=result.pk)
        if earlier.draw_id != locked_draw.pk:
            raise ValidationError(
                {"result": [f"Result {result.pk} was superseded a moment ago by another report."]}
            )
        earlier.draw = None
        earlier.superseded_draw = locked_draw
        earlier.superseded_at = now
        earlier.save(update_fields=["draw", "superseded_draw", "superseded_at"])
        current = Result.objects.create(
            draw=locked_draw,
            reported_on=reported_on,
            status=status,
            esr1_status=esr1,
            comment=(comment or "").strip(),
            source=source,
            report_id=report_id,
        )
        create_variants(current, normalised)
        earlier.superseded_by = current
        earlier.save(update_fields=["superseded_by"])
        if locked_draw.status != DrawStatus.RESULTED:
            locked_draw.status = DrawStatus.RESULTED
            locked_draw.save(update_fields=["status", "updated_at"])
        _move_alert_evidence(earlier, current, at=now)
        patient_changed(locked_draw.patient_id)
    return current


def _move_alert_evidence(earlier: Result, current: Result, *, at) -> None:
    """Open ESR1 alerts built on the earlier result: record the correction in their evidence
    and move their evidence_version on."""
    alerts = Alert.objects.select_for_update().filter(
        patient_id=current.draw.patient_id,
        status=AlertStatus.OPEN,
        kind__in=sorted(ESR1_KINDS),
        result_ids__contains=[earlier.pk],
    )
    for alert in alerts:
        evidence = dict(alert.evidence or {})
        corrections = list(evidence.get("corrections", []))
        corrections.append(
            {
                "superseded_result_id": earlier.pk,
                "result_id": current.pk,
                "esr1_status": current.esr1_status,
                "was_esr1_status": earlier.esr1_status,
                "corrected_at": at.isoformat(),
            }
        )
        evidence["corrections"] = corrections
        Alert.objects.filter(pk=alert.pk).update(
            evidence=evidence, evidence_version=F("evidence_version") + 1, updated_at=at
        )

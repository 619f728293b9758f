"""Resolving alerts (SPEC section 5.6): the oncologist's decision on an ESR1 alert, a nurse
closing a logistics alert. Each decision is checked first (errors in the shape of
config.errors), then made in one transaction with its audit trail and the re-evaluation mark.

A decision covers the evidence the clinician saw, no more: it carries the alert's
`evidence_version`, and the alert row is locked while the version is compared and the
decision written, so an engine run that adds a result either commits first (the decision is
refused with `StaleEvidence`, a 409, and nothing is saved) or waits and finds the alert
decided (the new result is then uncovered and opens an alert of its own).
"""

from datetime import date, timedelta

import pghistory
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Action, can, require
from config.errors import Conflict, Errors
from patients.models import (
    Assessment,
    Drug,
    DrugClass,
    EndReason,
    Setting,
    Treatment,
    clinic_today,
)
from patients.outbox import patient_changed
from patients.services import TREATMENT_LOOKAHEAD_DAYS, treatment_create, treatment_update
from surveillance import scans
from surveillance.models import ESR1_KINDS, Alert, AlertStatus, Decision, Draw, DrawStatus
from surveillance.selectors import switch_scan_days

ESR1_DECISIONS = {Decision.SWITCHED, Decision.REPEAT_TEST, Decision.DEFERRED, Decision.DISMISSED}
LOGISTICS_DECISIONS = {Decision.DONE, Decision.DISMISSED}
NOTE_REQUIRED = {Decision.DEFERRED, Decision.DISMISSED}
# How far ahead a repeat test may be planned.
MAX_DAYS_AHEAD = 120


class StaleEvidence(Conflict):
    """The alert's evidence changed after the version the decision was made on."""

    def __init__(self, *, alert: Alert, seen_version: int):
        self.alert = alert
        self.seen_version = seen_version
        super().__init__(
            f"The evidence of this alert changed after you opened it (you saw version "
            f"{seen_version}, it is now version {alert.evidence_version}). Nothing was saved: "
            f"review the current evidence and decide again with evidence_version "
            f"{alert.evidence_version}."
        )

    def body(self) -> dict:
        return {"alert": self.alert.pk}


def allowed_decisions(alert: Alert) -> set[str]:
    return ESR1_DECISIONS if alert.kind in ESR1_KINDS else LOGISTICS_DECISIONS


def _resolve_action(alert: Alert) -> str:
    if alert.kind in ESR1_KINDS:
        return Action.RESOLVE_ESR1_ALERT
    return Action.RESOLVE_LOGISTICS_ALERT


def may_resolve(user, alert: Alert) -> bool:
    return can(user, _resolve_action(alert))


def alert_resolve(
    *,
    actor,
    alert: Alert,
    decision: str,
    evidence_version: int | None,
    note: str = "",
    switch_date: date | None = None,
    new_endocrine_therapy: str | None = None,
    date: date | None = None,
) -> Alert:
    """Record `decision` on `alert`, made on its evidence as of `evidence_version`.

    Raises PermissionDenied for a role that may not decide it, ValidationError (field errors)
    for a decision that is incomplete or not allowed, StaleEvidence when the evidence has
    changed since `evidence_version`. The alert is locked before anything is checked against
    it: the version compared is the version the decision is written over."""
    require(actor, _resolve_action(alert), "Only an oncologist may decide on an ESR1 alert.")
    note = (note or "").strip()
    today = clinic_today()
    try:
        with transaction.atomic(), pghistory.context(user=actor.pk, source="alert-decision"):
            locked = Alert.objects.select_for_update().get(pk=alert.pk)
            if locked.status != AlertStatus.OPEN:
                raise ValidationError({"decision": "This alert has already been resolved."})
            # Before the decision's own checks: on changed evidence the clinician decides
            # again, so what they entered for the old evidence is not worth correcting.
            if evidence_version is not None and evidence_version != locked.evidence_version:
                raise StaleEvidence(alert=locked, seen_version=evidence_version)
            errors = Errors()
            if evidence_version is None:
                errors.add(
                    "evidence_version",
                    "Send the alert's evidence_version as it was when you reviewed the "
                    "evidence; a decision covers only the evidence it was made on.",
                )
            _check_decision(errors, alert=locked, decision=decision, note=note)
            serd = None
            details: dict = {}
            if decision == Decision.SWITCHED:
                serd = _check_switch(errors, switch_date, new_endocrine_therapy, today=today)
                if switch_date is not None:
                    details = _check_switch_scan(
                        errors, patient_id=locked.patient_id, switch_date=switch_date, note=note
                    )
            if decision == Decision.REPEAT_TEST:
                _check_repeat_date(errors, date, today=today)
            errors.raise_if_any()

            if decision == Decision.SWITCHED:
                details |= _switch(
                    actor=actor, patient_id=locked.patient_id, switch_date=switch_date, serd=serd
                )
            elif decision == Decision.REPEAT_TEST:
                details = _plan_repeat(patient_id=locked.patient_id, on=date)
            details["evidence_version"] = locked.evidence_version
            locked.status = AlertStatus.RESOLVED
            locked.decision = decision
            locked.note = note
            locked.decision_details = details
            locked.resolved_by = actor
            locked.resolved_at = timezone.now()
            locked.save(
                update_fields=[
                    "status", "decision", "note", "decision_details", "resolved_by",
                    "resolved_at", "updated_at",
                ]
            )  # fmt: skip
            patient_changed(locked.patient_id)
    except IntegrityError:
        raise ValidationError(
            {NON_FIELD_ERRORS: "The record changed while saving this decision; reload and retry."}
        ) from None
    return locked


def _check_decision(errors: Errors, *, alert: Alert, decision: str, note: str) -> None:
    if decision not in allowed_decisions(alert):
        choices = ", ".join(sorted(allowed_decisions(alert)))
        errors.add(
            "decision", f"'{decision}' is not a decision for this alert. Choose one of: {choices}."
        )
    if decision in NOTE_REQUIRED and not note:
        errors.add("note", f"A note is required when the decision is '{decision}'.")


def _check_switch(
    errors: Errors, switch_date: date | None, new_endocrine_therapy: str | None, *, today: date
) -> Drug | None:
    """Check a switch's date and SERD; the SERD from the catalogue when it is one."""
    if switch_date is None:
        errors.add("switch_date", "Give the date the SERD starts.")
    elif switch_date > today + timedelta(days=TREATMENT_LOOKAHEAD_DAYS):
        errors.add(
            "switch_date",
            f"The switch date may be at most {TREATMENT_LOOKAHEAD_DAYS} days ahead "
            "(the limit for any treatment date).",
        )
    serd = Drug.objects.filter(code=new_endocrine_therapy or "").first()
    if serd is None or serd.drug_class != DrugClass.SERD:
        serds = ", ".join(
            Drug.objects.filter(drug_class=DrugClass.SERD).values_list("code", flat=True)
        )
        errors.add("new_endocrine_therapy", f"Choose a SERD: {serds}.")
        return None
    return serd


def _check_repeat_date(errors: Errors, on: date | None, *, today: date) -> None:
    if on is None:
        errors.add("date", "Give the date of the repeat blood draw.")
    elif on < today:
        errors.add("date", "The repeat draw cannot be planned in the past.")
    elif on > today + timedelta(days=MAX_DAYS_AHEAD):
        errors.add("date", f"The repeat draw may be at most {MAX_DAYS_AHEAD} days ahead.")


def _check_switch_scan(errors: Errors, *, patient_id: int, switch_date: date, note: str) -> dict:
    """A switch is confirmed by a scan without progression within the policy's window before
    the switch date; without one, the note must give the reason. The scan the decision rests
    on (or its absence) is kept with it."""
    window = switch_scan_days()
    recorded = [
        scans.Scan.of(a)
        for a in Assessment.objects.filter(patient_id=patient_id, date__lte=switch_date)
    ]
    confirming = scans.confirming_scan(recorded, switch_date=switch_date, window_days=window)
    details: dict = {"scan_window_days": window, "confirming_scan": None}
    if confirming is not None:
        details["confirming_scan"] = {
            "assessment_id": confirming.id,
            "date": confirming.on.isoformat(),
            "modality": confirming.modality,
            "response": confirming.response,
        }
        return details
    if not note:
        last = scans.latest(recorded)
        seen = f"last scan: {last.describe()}" if last else "no imaging on record"
        errors.add(
            "note",
            f"No scan without progression in the {window} days up to the switch date "
            f"{switch_date.isoformat()} ({seen}). Confirm there is no radiographic "
            f"progression first, or give the reason for switching without a recent scan "
            f"in the note.",
        )
    return details


def _switch(*, actor, patient_id: int, switch_date: date, serd: Drug) -> dict:
    """End the running first-line AI regimen on `switch_date` and start the SERD on the same
    line with the same CDK4/6 inhibitor, through the treatment services (their checks, audit
    and re-evaluation apply)."""
    running = Treatment.objects.select_for_update().filter(
        patient_id=patient_id,
        setting=Setting.METASTATIC,
        line_number=1,
        start_date__lte=switch_date,
    )
    aromatase = [
        t for t in running
        if t.endocrine_therapy_id and (t.end_date is None or t.end_date > switch_date)
    ]  # fmt: skip
    if not aromatase:
        raise ValidationError(
            {"switch_date": "No first-line treatment is running on that date to switch from."}
        )
    old = max(aromatase, key=lambda t: t.start_date)
    if switch_date <= old.start_date:
        raise ValidationError({"switch_date": f"The switch must come after {old.start_date}."})
    try:
        treatment_update(
            actor=actor, treatment=old, end_date=switch_date, end_reason=EndReason.ESR1_SWITCH
        )
        new = treatment_create(
            actor=actor, patient=old.patient, line_number=old.line_number, setting=old.setting,
            endocrine_therapy=serd, cdk46_inhibitor=old.cdk46_inhibitor_id, start_date=switch_date,
        )  # fmt: skip
    except ValidationError as exc:
        # The treatment rules speak of end and start dates; here both are the switch date.
        raise ValidationError({"switch_date": exc.messages}) from None
    return {
        "switch_date": switch_date.isoformat(),
        "ended_treatment_id": old.id,
        "new_treatment_id": new.id,
        "new_endocrine_therapy": serd.code,
        "cdk46_inhibitor": old.cdk46_inhibitor_id,
    }


def _plan_repeat(*, patient_id: int, on: date) -> dict:
    planned = (
        Draw.objects.select_for_update()
        .filter(patient_id=patient_id, status=DrawStatus.PLANNED)
        .first()
    )
    if planned is None:
        planned = Draw.objects.create(
            patient_id=patient_id, status=DrawStatus.PLANNED, due_date=on, pinned=True
        )
    else:
        planned.due_date = on
        planned.pinned = True
        planned.save(update_fields=["due_date", "pinned", "updated_at"])
    return {"repeat_draw_id": planned.id, "date": on.isoformat()}

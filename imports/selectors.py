"""Reads of received messages: who may see them, and the access log."""

from django.db.models import Prefetch, Q, QuerySet

from accounts.roles import Action, can
from imports.models import ImportMessage, ImportReport, State
from patients.selectors import log_patient_accesses


def import_messages_for(user, *, state: str | None = None) -> QuerySet[ImportMessage]:
    """Every message for clinicians (they may read every patient); nothing for anyone else.
    `state`: messages with a report in that state (`unmatched`: the inbox)."""
    if not can(user, Action.VIEW_CLINICAL):
        return ImportMessage.objects.none()
    messages = ImportMessage.objects.select_related("sender").prefetch_related(
        Prefetch("reports", queryset=ImportReport.objects.order_by("position"))
    )
    if state in State.values:
        # An unreadable message has no reports: its own state says what became of it.
        messages = messages.filter(Q(reports__state=state) | Q(state=state)).distinct()
    return messages.order_by("-received_at", "-id")


def unmatched_reports() -> QuerySet[ImportReport]:
    return (
        ImportReport.objects.filter(state=State.UNMATCHED)
        .select_related("message")
        .order_by("message__received_at", "position")
    )


def log_import_reads(*, user, messages) -> None:
    """A message matched to a patient is that patient's record: its read is logged."""
    patient_ids = {r.patient_id for m in messages for r in m.reports.all() if r.patient_id}
    if patient_ids:
        log_patient_accesses(user=user, patient_ids=patient_ids, view="imports")

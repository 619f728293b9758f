"""Reads of surveillance data, scoped by patients.selectors."""

from django.db.models import Case, IntegerField, QuerySet, Value, When

from accounts.roles import Role
from patients.selectors import records_visible_to
from surveillance.models import ESR1_KINDS, LOGISTICS_KINDS, SEVERITY_RANK, Alert

ESR1_FIRST = Case(
    When(kind__in=sorted(ESR1_KINDS), then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)


def alerts_visible_to(user) -> QuerySet[Alert]:
    return records_visible_to(user, Alert.objects.all()).select_related(
        "patient", "patient__oncologist", "resolved_by"
    )


def worklist_for(*, user) -> QuerySet[Alert]:
    """The signed-in user's open work, most urgent first.

    Oncologists: open alerts of their own patients, ESR1 alerts first, then by severity
    and age (oldest first). Nurses: open draw-logistics alerts across the clinic (draws due
    and overdue, redraws, results not back), by severity and age; that order is an index
    (Alert.Meta), so a page of a clinic-wide list is read, not sorted.
    """
    alerts = alerts_visible_to(user).filter(status="open").annotate(severity_rank=SEVERITY_RANK)
    if user.role == Role.ONCOLOGIST:
        return (
            alerts.filter(patient__oncologist=user)
            .annotate(esr1_first=ESR1_FIRST)
            .order_by("esr1_first", "severity_rank", "created_at", "id")
        )
    if user.role == Role.NURSE:
        return alerts.filter(kind__in=sorted(LOGISTICS_KINDS)).order_by(
            "severity_rank", "created_at", "id"
        )
    return alerts.none()

"""Reads of surveillance data, scoped by patients.selectors."""

from django.db.models import Case, IntegerField, QuerySet, Value, When

from accounts.roles import Role
from patients.selectors import patients_visible_to
from surveillance.models import ESR1_KINDS, LOGISTICS_KINDS, Alert

SEVERITY_RANK = Case(
    When(severity="high", then=Value(0)),
    When(severity="medium", then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
ESR1_FIRST = Case(
    When(kind__in=list(ESR1_KINDS), then=Value(0)), default=Value(1), output_field=IntegerField()
)


def alerts_visible_to(user) -> QuerySet[Alert]:
    return Alert.objects.filter(patient__in=patients_visible_to(user)).select_related(
        "patient", "patient__oncologist", "resolved_by"
    )


def worklist_for(*, user) -> QuerySet[Alert]:
    """The signed-in user's open work, most urgent first.

    Oncologists: open alerts of their own patients, ESR1 alerts first, then by severity
    and age (oldest first). Nurses: open draw-logistics alerts across the clinic (draws due
    and overdue, redraws, results not back), by severity and age.
    """
    alerts = alerts_visible_to(user).filter(status="open")
    if user.role == Role.ONCOLOGIST:
        alerts = alerts.filter(patient__oncologist=user)
    elif user.role == Role.NURSE:
        alerts = alerts.filter(kind__in=list(LOGISTICS_KINDS))
    else:
        return alerts.none()
    return alerts.annotate(esr1_first=ESR1_FIRST, severity_rank=SEVERITY_RANK).order_by(
        "esr1_first", "severity_rank", "created_at", "id"
    )

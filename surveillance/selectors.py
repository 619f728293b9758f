"""Reads of surveillance data, scoped by patients.selectors."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Case, IntegerField, QuerySet, Value, When

from accounts.roles import Role
from patients.models import Assessment, Response
from patients.selectors import records_visible_to
from surveillance.models import (
    ESR1_KINDS,
    LOGISTICS_KINDS,
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    Draw,
    DrawStatus,
    SurveillancePolicy,
)
from surveillance.scans import LastScan, Scan

ESR1_FIRST = Case(
    When(kind__in=sorted(ESR1_KINDS), then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)
# The nurses' "due this week": planned draws due after today and within this many days.
DUE_SOON_DAYS = 7


def alerts_visible_to(user) -> QuerySet[Alert]:
    return records_visible_to(user, Alert.objects.all()).select_related(
        "patient", "patient__oncologist", "resolved_by"
    )


@dataclass(frozen=True)
class Worklist:
    """A signed-in user's open work, each part most urgent first (unevaluated querysets: a
    caller reads only the parts, and the page of each, that it shows).

    `alerts` is what both the home page and `GET /api/v1/worklist/` list. The draw parts are
    the nurses' (empty for everyone else): planned draws overdue, due today and due in the
    next week, and collected samples whose result has not come back."""

    alerts: QuerySet[Alert]
    overdue: QuerySet[Draw]
    due_today: QuerySet[Draw]
    due_week: QuerySet[Draw]
    pending_results: QuerySet[Draw]

    def sections(self) -> dict[str, QuerySet]:
        """The nurses' page sections by name, in page order."""
        return {
            "overdue": self.overdue,
            "due_today": self.due_today,
            "due_week": self.due_week,
            "pending_results": self.pending_results,
            "alerts": self.alerts,
        }


def worklist_for(*, user, today: date) -> Worklist:
    """The signed-in user's open work on `today`, most urgent first.

    Oncologists: open alerts of their own patients, ESR1 alerts first, then by severity and
    age (oldest first). Nurses: open draw-logistics alerts across the clinic (draws due and
    overdue, redraws, results not back), by severity and age, that order being an index
    (Alert.Meta) so a page of a clinic-wide list is read, not sorted; and the draws behind
    them. Anyone else: nothing.
    """
    no_draws = Draw.objects.none()
    if user.role == Role.ONCOLOGIST:
        alerts = (
            _open_alerts(user)
            .filter(patient__oncologist=user)
            .annotate(esr1_first=ESR1_FIRST)
            .order_by("esr1_first", "severity_rank", "created_at", "id")
        )
        return Worklist(alerts, no_draws, no_draws, no_draws, no_draws)
    if user.role == Role.NURSE:
        alerts = (
            _open_alerts(user)
            .filter(kind__in=sorted(LOGISTICS_KINDS))
            .order_by("severity_rank", "created_at", "id")
        )
        planned = (
            records_visible_to(user, Draw.objects.filter(status=DrawStatus.PLANNED))
            .select_related("patient")
            .order_by("due_date", "id")
        )
        collected = records_visible_to(user, Draw.objects.filter(status=DrawStatus.COLLECTED))
        return Worklist(
            alerts=alerts,
            overdue=planned.filter(due_date__lt=today),
            due_today=planned.filter(due_date=today),
            due_week=planned.filter(
                due_date__gt=today, due_date__lte=today + timedelta(DUE_SOON_DAYS)
            ),
            pending_results=collected.select_related("patient").order_by("collected_on", "id"),
        )
    return Worklist(_open_alerts(user).none(), no_draws, no_draws, no_draws, no_draws)


def _open_alerts(user) -> QuerySet[Alert]:
    return (
        alerts_visible_to(user)
        .filter(status=AlertStatus.OPEN)
        .annotate(severity_rank=SEVERITY_RANK)
    )


# On a day with several scans, the PD one is "the last scan": progression is what matters.
_PROGRESSION_FIRST = Case(
    When(response=Response.PD, then=Value(0)), default=Value(1), output_field=IntegerField()
)


def last_scans(*, patient_ids, today: date) -> dict[int, LastScan]:
    """The last imaging assessment on or before `today` of each patient, in one query; a
    patient without one gets a LastScan that says so. Callers have already scoped the
    patients (their alerts come from alerts_visible_to)."""
    ids = sorted(set(patient_ids))
    found = {
        a.patient_id: Scan.of(a)
        for a in Assessment.objects.filter(patient_id__in=ids, date__lte=today)
        .order_by("patient_id", "-date", _PROGRESSION_FIRST, "-id")
        .distinct("patient_id")
    }
    return {pid: LastScan(found.get(pid), today) for pid in ids}


def switch_scan_days() -> int:
    """The window of the policy in force for the scan that confirms a switch (days before
    the switch date)."""
    days = (
        SurveillancePolicy.objects.order_by("-version")
        .values_list("switch_scan_days", flat=True)
        .first()
    )
    return days or SurveillancePolicy._meta.get_field("switch_scan_days").default

"""Reads of surveillance data, scoped by patients.selectors."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import dateformat, timezone
from django.utils.text import Truncator

from accounts.roles import Role
from patients.models import Assessment, Drug, Response, Treatment
from patients.selectors import records_visible_to
from surveillance import evidence
from surveillance.models import (
    ESR1_KINDS,
    LOGISTICS_KINDS,
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    AssayProfile,
    Draw,
    DrawStatus,
    Result,
    ResultStatus,
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


# --------------------------------------------------------------------------------------------
# The rows of the nurses' worklist, worded once
# --------------------------------------------------------------------------------------------
#
# The nurses' page shows five sections of 25 rows. Read as model instances (with the patient
# and its oncologist joined in) and worded cell by cell in templates, those rows were most of
# the page's time at 100,000 patients; here a page of a section is read as the columns its
# rows show and each row's words are worked out once (surveillance/templatetags/worklist_rows
# renders them).


@dataclass(frozen=True, slots=True)
class DrawRow:
    """A row of a nurses' draw section (overdue, due today, due this week, results not back)."""

    id: int
    patient_id: int
    patient_name: str  # "Family, Given"
    mrn: str
    planned: bool  # else collected, its result not back
    when: str  # planned: the due date, "Fri 4 Dec 2026"; collected: "collected 4 Dec 2026"
    pinned: bool  # a planned repeat test


_DRAW_ROW_COLUMNS = (
    "id", "patient_id", "patient__family_name", "patient__given_name", "patient__mrn",
    "status", "due_date", "collected_on", "pinned",
)  # fmt: skip


def draw_rows(draws: QuerySet[Draw]) -> list[DrawRow]:
    """These draws (a page of a Worklist draw section) as rows, in their order: one query."""
    day = _day_words()
    rows = []
    for id_, patient_id, family, given, mrn, status, due, collected, pinned in draws.values_list(
        *_DRAW_ROW_COLUMNS
    ):
        planned = status == DrawStatus.PLANNED
        when = day(due, "D j M Y") if planned else f"collected {day(collected, 'j M Y')}"
        rows.append(
            DrawRow(id_, patient_id, f"{family}, {given}", mrn, planned, when, planned and pinned)
        )
    return rows


@dataclass(frozen=True, slots=True)
class AlertRow:
    """A row of the nurses' draw alerts (logistics kinds: no ESR1 evidence to read)."""

    id: int
    patient_id: int
    patient_name: str  # "Family, Given"
    mrn: str
    severity: str  # the code, for the row's class
    severity_label: str
    title: str
    kind_label: str
    opened: str  # the day it was opened, local time, "2026-12-04"
    policy_version: int
    why: str  # the rationale's first 30 words


_ALERT_ROW_COLUMNS = (
    "id", "patient_id", "patient__family_name", "patient__given_name", "patient__mrn",
    "severity", "title", "kind", "created_at", "policy_version", "rationale",
)  # fmt: skip
# Words of the row's "Why" cell before it is cut short with " …".
WHY_WORDS = 30


def alert_rows(alerts: QuerySet[Alert]) -> list[AlertRow]:
    """These alerts (a page of the nurses' Worklist.alerts) as rows, in their order: one
    query."""
    severities = dict(Alert._meta.get_field("severity").flatchoices)
    kinds = dict(Alert._meta.get_field("kind").flatchoices)
    rows = []
    for (
        id_, patient_id, family, given, mrn, severity, title, kind, created_at, version, why,
    ) in alerts.values_list(*_ALERT_ROW_COLUMNS):  # fmt: skip
        row = AlertRow(
            id=id_,
            patient_id=patient_id,
            patient_name=f"{family}, {given}",
            mrn=mrn,
            severity=severity,
            severity_label=str(severities.get(severity, severity)),
            title=title,
            kind_label=str(kinds.get(kind, kind)),
            opened=timezone.localtime(created_at).date().isoformat(),
            policy_version=version,
            why=Truncator(why).words(WHY_WORDS, truncate=" …"),
        )
        rows.append(row)
    return rows


def _day_words():
    """A day's words in a date format (Django's `date` filter), each day worded once."""
    worded: dict[tuple[date, str], str] = {}

    def words(day: date | None, fmt: str) -> str:
        if day is None:
            return ""
        key = (day, fmt)
        if key not in worded:
            worded[key] = dateformat.format(day, fmt)
        return worded[key]

    return words


# --------------------------------------------------------------------------------------------
# What an alert's evidence means (surveillance/evidence.py words it)
# --------------------------------------------------------------------------------------------


def alert_readings(
    alerts, *, draws=None, treatments=None, drug_notes: bool = True
) -> dict[int, evidence.Reading]:
    """What each alert's evidence means, by alert id, for the alerts that have something to
    say: the course of each ESR1 variant since its first detection and the context to weigh
    (ESR1 alerts), and the catalogue status note of each drug its text names (`drug_notes`).

    A fixed number of queries for any number of alerts. A page that has already loaded the
    patient's `draws` (with result and variants) and `treatments` passes them in."""
    alerts = list(alerts)
    esr1 = [a for a in alerts if a.kind in ESR1_KINDS and a.evidence.get("variants")]
    catalogue = _drug_notes() if drug_notes and alerts else {}
    if esr1:
        measurements = _measurements({a.patient_id for a in esr1}, draws)
        therapies = _endocrine_therapies(esr1, treatments)
        limits = detection_limits()
    esr1_ids = {a.id for a in esr1}
    readings = {}
    for alert in alerts:
        reading = evidence.Reading()
        if alert.id in esr1_ids:
            dates = alert.evidence.get("dates") or {}
            start = dates.get("treatment_start")
            reading = evidence.read_alert(
                kind=alert.kind,
                shorts=[v["short"] for v in alert.evidence["variants"] if v.get("short")],
                measurements=measurements.get(alert.patient_id, ()),
                treatment_start=date.fromisoformat(start) if start else None,
                endocrine_therapy=therapies.get(alert.evidence.get("treatment_id")),
                limits=limits,
            )
        if catalogue:
            named = evidence.drugs_named(f"{alert.title} {alert.rationale}", catalogue)
            reading = evidence.Reading(reading.courses, reading.notes, named)
        if reading:
            readings[alert.id] = reading
    return readings


def detection_limits() -> dict[str, evidence.DetectionLimit]:
    return {
        p.code: evidence.DetectionLimit(
            p.name,
            float(p.limit_of_detection_pct) if p.limit_of_detection_pct is not None else None,
            p.limit_confirmed,
        )
        for p in AssayProfile.objects.all()
    }


def _drug_notes() -> dict[str, tuple[str, str]]:
    drugs = Drug.objects.exclude(status_note="").order_by("code")
    return {d.code: (d.name, d.status_note) for d in drugs}


def _measurements(patient_ids, draws) -> dict[int, list[evidence.Measurement]]:
    """Each patient's final results as the evidence module reads them: ESR1 variants only."""
    if draws is None:
        results = (
            Result.objects.filter(draw__patient_id__in=patient_ids, status=ResultStatus.FINAL)
            .select_related("draw")
            .prefetch_related("variants")
        )
    else:
        results = [
            d.result
            for d in draws
            if d.status == DrawStatus.RESULTED and getattr(d, "result", None) is not None
        ]
    by_patient = defaultdict(list)
    for result in results:
        draw = result.draw
        if result.status != ResultStatus.FINAL or draw.collected_on is None:
            continue
        variants = {
            v.short: float(v.vaf_percent) if v.vaf_percent is not None else None
            for v in result.variants.all()
            if v.gene.upper() == "ESR1"
        }
        by_patient[draw.patient_id].append(
            evidence.Measurement(draw.collected_on, draw.assay, variants, result.id)
        )
    return by_patient


def _endocrine_therapies(alerts, treatments) -> dict[int, str | None]:
    """The endocrine therapy (drug code) of each surveillance treatment the alerts name."""
    if treatments is not None:
        return {t.id: t.endocrine_therapy_id for t in treatments}
    ids = {a.evidence.get("treatment_id") for a in alerts} - {None}
    if not ids:
        return {}
    return dict(Treatment.objects.filter(id__in=ids).values_list("id", "endocrine_therapy_id"))


# --------------------------------------------------------------------------------------------
# The surveillance policy
# --------------------------------------------------------------------------------------------


def policy_versions() -> list[SurveillancePolicy]:
    """Every version of the surveillance policy, the one in force (the highest) first."""
    return list(SurveillancePolicy.objects.select_related("created_by").order_by("-version"))


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

"""Programme metrics (SPEC section 8): how the surveillance programme is doing, as counts,
shares and medians over every patient. Aggregates only: nothing here names a patient,
and the oncologists (staff) are the only people named.

The figures and their definitions (see programme.queries for each one's SQL):

- `monitored`: patients under surveillance at any time in the period: a surveillance
  treatment (first metastatic line, an aromatase inhibitor with a CDK4/6 inhibitor) of a
  hormone-receptor-positive, HER2-not-positive patient, counted from the later of its start
  and the patient's enrolment until the earlier of its end and the first documented
  progression (PD) on it. A patient who is no longer active counts only over a span that
  ended, since the day an open one stopped being followed is not recorded.
- `draws_due`: draws whose due date falls in the period and has come (planned draws that
  were collected keep their due date; cancelled draws are left out). `draws_on_time_pct`:
  of those whose outcome is known (collected, or planned and more than 14 days past due),
  the share collected no later than 14 days after the due date.
- `turnaround_days_median` / `_p90`, `turnaround_within_14_pct`: days from collection to
  the report, for results reported in the period; `failed_pct`: failed results among them.
- `result_to_alert_minutes_median`: minutes from an ESR1-positive result being saved to
  its ESR1 alert, for ESR1 alerts raised in the period.
- `esr1_detected`: ESR1 detections raised in the period: the first esr1_switch or
  esr1_at_progression alert of a patient's surveillance treatment (a mutation seen again
  after a deferred decision is the same detection). `detected_before_progression_pct`:
  the share of them raised as esr1_switch, i.e. before documented progression.
- `decisions` (by kind), `detection_to_decision_days_median`, `switched`,
  `decision_to_switch_days_median`: oncologists' decisions on ESR1 alerts made in the
  period, days from the alert to the decision, and for a switch, days from the decision
  to the start of the new treatment.
- `funnel`: patients monitored -> tested (a draw collected in the period) -> ESR1 detected
  (in the period) -> switched (in the period), each stage a subset of the one before.

Months are calendar months clipped to the period; a figure falls in the month of the date
that places it (due date, report date, the day an alert was raised or decided, in the
clinic's zone); a patient is monitored in each month a span overlaps. Per oncologist means
the patient's current oncologist. Counts are always numbers; a share, median or percentile
drawn from fewer than MIN_CASES cases is None, and every such figure `x` comes with its
case count `x_n`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from accounts.models import User
from accounts.roles import Role
from patients.models import clinic_today
from programme import queries

MIN_CASES = 5
DECISION_KINDS = tuple(str(kind) for kind in queries.CLINICAL_DECISIONS)
FUNNEL_STAGES = ("monitored", "tested", "esr1_detected", "switched")


def programme_metrics(*, start: date, end: date, today: date | None = None) -> dict:
    """The figures for `start`..`end` (inclusive): overall, `by_month` (every calendar month
    of the range, clipped to it) and `by_oncologist` (every active oncologist, and any other
    user who is some counted patient's oncologist). Four queries, however many patients or
    months: the transaction's settings (queries.SETTINGS), the patients statement, the
    events statement and the oncologists' names."""
    params = queries.parameters(
        start=start, end=end, today=today or clinic_today(), zone=settings.TIME_ZONE
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(queries.settings_sql())
        tables = {"patients": _keyed_rows(cursor, queries.patients_sql(), params)}
        tables.update(_event_tables(_fetch(cursor, queries.events_sql(), params)))
    funnel = tables["patients"].pop(("funnel", None))

    by_month = [
        {"month": f"{first:%Y-%m}", "from": lo, "to": hi, **_figures(tables, ("month", first))}
        for first, lo, hi in calendar_months(start, end)
    ]
    counted = {key for rows in tables.values() for scope, key in rows if scope == "oncologist"}
    oncologists = User.objects.filter(
        Q(role=Role.ONCOLOGIST, is_active=True) | Q(id__in=counted)
    ).order_by("username")
    by_oncologist = [
        {
            "oncologist": user.username,
            "name": user.display_name,
            **_figures(tables, ("oncologist", user.id)),
        }
        for user in oncologists
    ]
    return {
        "from": start,
        "to": end,
        **_figures(tables, ("all", None)),
        "funnel": {stage: funnel[stage] for stage in FUNNEL_STAGES},
        "by_month": by_month,
        "by_oncologist": by_oncologist,
    }


def calendar_months(start: date, end: date) -> Iterator[tuple[date, date, date]]:
    """(first day, first day in range, last day in range) of each month from start to end."""
    first = start.replace(day=1)
    while first <= end:
        following = _next_month(first)
        last = following - timedelta(days=1) if following else date.max
        yield first, max(first, start), min(last, end)
        if following is None:
            return
        first = following


def _next_month(first: date) -> date | None:
    if first.month < 12:
        return first.replace(month=first.month + 1)
    return first.replace(year=first.year + 1, month=1) if first.year < date.max.year else None


# --- From rows to figures ------------------------------------------------------------------


def _fetch(cursor, sql: str, params: dict) -> list[dict]:
    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _key(row: dict) -> tuple:
    scope = row["scope"]
    return scope, {"month": row["month"], "oncologist": row["oncologist_id"]}.get(scope)


def _event_tables(rows: list[dict]) -> dict[str, dict[tuple, dict]]:
    """The events statement's rows (per scope: a count per figure, percentiles per series of
    values) as one table per kind of record, keyed like _keyed_rows."""
    tables = {name: {} for name in ("draws", "results", "alerts", "decisions")}

    def add(table: str, key: tuple, name: str, n: int) -> None:
        row = tables[table].setdefault(key, {})
        row[name] = row.get(name, 0) + n

    for row in rows:
        key, figure, n = _key(row), row["figure"], row["n"]
        if figure in ("draw", "draw_pending"):
            add("draws", key, "due", n)
            if figure == "draw":
                add("draws", key, "decided", n)
                add("draws", key, "on_time", row["ones"] or 0)
        elif figure in ("result", "result_failed"):
            add("results", key, "results", n)
            add("results", key, "within_target", row["within_target"] or 0)
            if figure == "result_failed":
                add("results", key, "failed", n)
        elif figure in ("detection_before", "detection_at"):
            add("alerts", key, "detected", n)
            if figure == "detection_before":
                add("alerts", key, "before_progression", n)
        elif figure.startswith("decision_"):
            add("decisions", key, "decided", n)
            add("decisions", key, figure.removeprefix("decision_"), n)
        elif figure == "turnaround":
            tables["results"].setdefault(key, {}).update(
                turnaround_n=n, turnaround_percentiles=(row["p50"], row["p90"])
            )
        elif figure == "result_to_alert":
            tables["alerts"].setdefault(key, {}).update(
                result_to_alert_n=n, result_to_alert_median=row["p50"]
            )
        elif figure == "days_to_decision":
            tables["decisions"].setdefault(key, {})["days_to_decision_median"] = row["p50"]
        elif figure == "days_to_switch":
            tables["decisions"].setdefault(key, {}).update(
                days_to_switch_n=n, days_to_switch_median=row["p50"]
            )
    return tables


def _keyed_rows(cursor, sql: str, params: dict) -> dict[tuple, dict]:
    """A statement's rows by scope: ("all", None), ("month", first day), ("oncologist",
    user id), and the patients statement's ("funnel", None)."""
    return {_key(row): row for row in _fetch(cursor, sql, params)}


def _figures(tables: dict[str, dict], key: tuple) -> dict:
    monitored = tables["patients"].get(key, {})
    draws = tables["draws"].get(key, {})
    results = tables["results"].get(key, {})
    alerts = tables["alerts"].get(key, {})
    decisions = tables["decisions"].get(key, {})
    median, p90 = results.get("turnaround_percentiles") or (None, None)
    return {
        "monitored": monitored.get("monitored", 0),
        "draws_due": draws.get("due", 0),
        **_share("draws_on_time_pct", draws.get("on_time", 0), draws.get("decided", 0)),
        **_value("turnaround_days_median", median, results.get("turnaround_n", 0)),
        **_value("turnaround_days_p90", p90, results.get("turnaround_n", 0)),
        **_share(
            "turnaround_within_14_pct",
            results.get("within_target", 0),
            results.get("turnaround_n", 0),
        ),
        **_share("failed_pct", results.get("failed", 0), results.get("results", 0)),
        **_value(
            "result_to_alert_minutes_median",
            alerts.get("result_to_alert_median"),
            alerts.get("result_to_alert_n", 0),
            places=2,
        ),
        "esr1_detected": alerts.get("detected", 0),
        # A count, for the page's chart of detections before and at progression.
        "detected_before_progression": alerts.get("before_progression", 0),
        **_share(
            "detected_before_progression_pct",
            alerts.get("before_progression", 0),
            alerts.get("detected", 0),
        ),
        **_value(
            "detection_to_decision_days_median",
            decisions.get("days_to_decision_median"),
            decisions.get("decided", 0),
        ),
        "switched": decisions.get("switched", 0),
        **_value(
            "decision_to_switch_days_median",
            decisions.get("days_to_switch_median"),
            decisions.get("days_to_switch_n", 0),
        ),
        "decisions": {kind: decisions.get(kind, 0) for kind in DECISION_KINDS},
    }


def _rounded(value: Decimal, places: int) -> float:
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _share(name: str, part: int, whole: int) -> dict:
    """A percentage with one decimal, or None when drawn from fewer than MIN_CASES cases."""
    pct = None
    if whole >= MIN_CASES:
        pct = _rounded(Decimal(part * 100) / Decimal(whole), 1)
    return {name: pct, f"{name}_n": whole}


def _value(name: str, value: float | None, n: int, *, places: int = 1) -> dict:
    """A median or percentile, or None when drawn from fewer than MIN_CASES cases."""
    shown = None
    if value is not None and n >= MIN_CASES:
        # repr() is the shortest text that reads back as the same float: 9.200000000000001
        # from 8 + 0.6 * 2 becomes 9.2, not 9.20000000000000106...
        shown = _rounded(Decimal(repr(value)), places)
    return {name: shown, f"{name}_n": n}

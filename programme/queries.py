"""The programme's figures as SQL: every figure is aggregated in Postgres, over the whole
range, per calendar month and per oncologist, in one statement per kind of record.

Table and column names come from the models' `_meta` (`_Names`), so a renamed field is
renamed here and a removed one fails loudly instead of reading the wrong column. Values
(dates, codes, the clinic's zone) are always parameters, never spliced in.

Every statement answers rows of (`scope`, `month`, `oncologist_id`, figures...): `scope` is
"all" for the whole range, "month" for one calendar month (`month` is its first day) and
"oncologist" for one patient's oncologist (the patient's current oncologist); the patients
statement adds one "funnel" row.
"""

from __future__ import annotations

from functools import cache

from django.db import connection

from patients.models import (
    Assessment,
    Patient,
    PatientStatus,
    ReceptorStatus,
    Response,
    Setting,
    Treatment,
)
from surveillance.models import (
    Alert,
    AlertKind,
    AlertStatus,
    Decision,
    Draw,
    DrawStatus,
    Result,
    ResultStatus,
)
from surveillance.rules import AROMATASE_INHIBITORS, CDK46_INHIBITORS

# "Collected within 14 days of the due date" (SPEC 8): the same two weeks after which the
# engine calls a planned draw overdue under the default policy.
ON_TIME_DAYS = 14
# A result reported within 14 days of collection.
TURNAROUND_TARGET_DAYS = 14
DETECTION_KINDS = (AlertKind.ESR1_SWITCH, AlertKind.ESR1_AT_PROGRESSION)
CLINICAL_DECISIONS = (
    Decision.SWITCHED,
    Decision.REPEAT_TEST,
    Decision.DEFERRED,
    Decision.DISMISSED,
)


class _Names:
    """A model's quoted table name (`{draw}`) and column names (`{draw.due_date}`)."""

    def __init__(self, model):
        self._model = model

    def __str__(self) -> str:
        return connection.ops.quote_name(self._model._meta.db_table)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __getattr__(self, field: str) -> str:
        return connection.ops.quote_name(self._model._meta.get_field(field).column)


def _sql(template: str, **fragments: str) -> str:
    return template.format(
        **fragments,
        alert=_Names(Alert),
        assessment=_Names(Assessment),
        draw=_Names(Draw),
        patient=_Names(Patient),
        result=_Names(Result),
        treatment=_Names(Treatment),
    )


def parameters(*, start, end, today, zone: str) -> dict:
    """The values every statement below may use."""
    return {
        "start": start,
        "end": end,
        "today": today,
        "tz": zone,
        "on_time_days": ON_TIME_DAYS,
        "turnaround_days": TURNAROUND_TARGET_DAYS,
        "active": PatientStatus.ACTIVE,
        "positive": ReceptorStatus.POSITIVE,
        "metastatic": Setting.METASTATIC,
        # The surveillance regimen as the rules define it (SPEC 5 rule 1). Codes rather than
        # a join to the catalogue: the planner then estimates the rows from the statistics.
        "aromatase_inhibitors": sorted(AROMATASE_INHIBITORS),
        "cdk46_inhibitors": sorted(CDK46_INHIBITORS),
        "pd": Response.PD,
        "collected": [DrawStatus.COLLECTED, DrawStatus.RESULTED],
        "cancelled": DrawStatus.CANCELLED,
        "failed": ResultStatus.FAILED,
        "esr1_kinds": list(DETECTION_KINDS),
        "esr1_switch": AlertKind.ESR1_SWITCH,
        "resolved": AlertStatus.RESOLVED,
        "decisions": list(CLINICAL_DECISIONS),
        "switched": Decision.SWITCHED,
        "repeat_test": Decision.REPEAT_TEST,
        "deferred": Decision.DEFERRED,
        "dismissed": Decision.DISMISSED,
    }


# --- Building blocks ---------------------------------------------------------------------

# Monitored spans: one row per surveillance treatment (metastatic, line 1, an aromatase
# inhibitor with a CDK4/6 inhibitor) of a hormone-receptor-positive, HER2-not-positive
# patient, from the later of its start and the patient's enrolment until (exclusive) the
# earlier of its end and the first PD assessment on or after its start (SPEC 5 rules 1-2).
# A patient no longer active is counted only over a span that ended (by a recorded end or
# progression): when an open span stopped being followed is not recorded. `monitored` keeps
# the spans that overlap the period, clipped to it (`last_day` inclusive).
_SPANS = """
spans AS MATERIALIZED (
    SELECT p.{patient.id} AS patient_id,
           p.{patient.oncologist} AS oncologist_id,
           GREATEST(t.{treatment.start_date}, p.{patient.enrolled_on}) AS since,
           LEAST(t.{treatment.end_date}, min(pd.{assessment.date})) AS until,
           p.{patient.status} = %(active)s AS active
    FROM {treatment} t
    JOIN {patient} p ON p.{patient.id} = t.{treatment.patient}
    LEFT JOIN {assessment} pd ON pd.{assessment.patient} = t.{treatment.patient}
         AND pd.{assessment.response} = %(pd)s
         AND pd.{assessment.date} >= t.{treatment.start_date}
    WHERE t.{treatment.setting} = %(metastatic)s
      AND t.{treatment.line_number} = 1
      AND t.{treatment.endocrine_therapy} = ANY(%(aromatase_inhibitors)s)
      AND t.{treatment.cdk46_inhibitor} = ANY(%(cdk46_inhibitors)s)
      AND %(positive)s IN (p.{patient.er_status}, p.{patient.pr_status})
      AND p.{patient.her2_status} <> %(positive)s
    GROUP BY t.{treatment.id}, p.{patient.id}
),
monitored AS MATERIALIZED (
    SELECT patient_id, oncologist_id,
           GREATEST(since, %(start)s::date) AS since,
           LEAST(until - 1, %(end)s::date) AS last_day
    FROM spans
    WHERE (until IS NULL OR since < until) AND (active OR until IS NOT NULL)
      AND since <= %(end)s::date AND (until IS NULL OR until > %(start)s::date)
)"""

# ESR1 alerts, each marked whether it is the first of its episode: the patient's first
# esr1_switch or esr1_at_progression alert on one surveillance treatment (the engine names
# the treatment in the evidence). Later alerts of the same episode (a mutation seen again
# after a deferred or dismissed decision) are not new detections.
_ESR1_ALERTS = """
esr1_alerts AS (
    SELECT a.{alert.id} AS id,
           a.{alert.patient} AS patient_id,
           a.{alert.kind} AS kind,
           a.{alert.created_at} AS created_at,
           (a.{alert.created_at} AT TIME ZONE %(tz)s)::date AS created_on,
           a.{alert.result_ids} AS result_ids,
           row_number() OVER (
               PARTITION BY a.{alert.patient}, a.{alert.evidence} ->> 'treatment_id'
               ORDER BY a.{alert.created_at}, a.{alert.id}
           ) = 1 AS first_of_episode
    FROM {alert} a
    WHERE a.{alert.kind} = ANY(%(esr1_kinds)s)
)"""


def _grouped(source: str, aggregates: str, *, ctes: tuple[str, ...] = ()) -> str:
    """`source` yields rows with `on_date` (the date that places the row in a month) and
    `oncologist_id`; the aggregates are answered over the range, per month, per oncologist."""
    with_clause = "WITH " + ",".join(ctes) if ctes else ""
    # Built from this module's constant fragments and the models' names; values are
    # parameters (S608 is about splicing input, which never happens here).
    return _sql(
        f"""{with_clause}
        SELECT CASE WHEN GROUPING(x.month) = 0 THEN 'month'
                    WHEN GROUPING(x.oncologist_id) = 0 THEN 'oncologist'
                    ELSE 'all' END AS scope,
               x.month, x.oncologist_id, {aggregates}
        FROM (SELECT date_trunc('month', src.on_date::timestamp)::date AS month, src.*
              FROM ({source}) AS src) AS x
        GROUP BY GROUPING SETS ((), (x.month), (x.oncologist_id))"""  # noqa: S608
    )


# --- The statements ----------------------------------------------------------------------


# A patient's monitored spans as calendar months, merged where they share a month ("islands"),
# and how many islands start and end in each month: each month's count of patients is the
# running sum of those changes, which reads each span once instead of once per month.
_MONTH_ISLANDS = """
    span_months AS (
        SELECT patient_id,
               date_trunc('month', since::timestamp)::date AS first_month,
               date_trunc('month', last_day::timestamp)::date AS last_month
        FROM monitored
    ),
    marked AS (
        SELECT *, first_month > max(last_month) OVER (
                   PARTITION BY patient_id ORDER BY first_month, last_month
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) IS NOT FALSE AS starts_island
        FROM span_months
    ),
    numbered AS (
        SELECT *, count(*) FILTER (WHERE starts_island) OVER (
                   PARTITION BY patient_id ORDER BY first_month, last_month
                   ROWS UNBOUNDED PRECEDING
               ) AS island
        FROM marked
    ),
    islands AS (
        SELECT min(first_month) AS first_month, max(last_month) AS last_month
        FROM numbered GROUP BY patient_id, island
    ),
    changes AS (
        SELECT month, sum(change) AS change FROM (
            SELECT first_month AS month, 1 AS change FROM islands
            UNION ALL
            SELECT (last_month + interval '1 month')::date, -1 FROM islands
        ) AS edges GROUP BY month
    ),
    months AS (
        SELECT m::date AS month
        FROM generate_series(date_trunc('month', %(start)s::timestamp),
                             %(end)s::timestamp, interval '1 month') AS m
    )"""

# The funnel's stages as sets of patients.
_FUNNEL = """
    tested AS (
        SELECT DISTINCT d.{draw.patient} AS patient_id FROM {draw} d
        WHERE d.{draw.status} = ANY(%(collected)s)
          AND d.{draw.collected_on} BETWEEN %(start)s AND %(end)s
    ),
    detected AS (
        SELECT DISTINCT patient_id FROM esr1_alerts
        WHERE first_of_episode AND created_on BETWEEN %(start)s AND %(end)s
    ),
    switched AS (
        SELECT DISTINCT a.{alert.patient} AS patient_id FROM {alert} a
        WHERE a.{alert.kind} = ANY(%(esr1_kinds)s)
          AND a.{alert.decision} = %(switched)s
          AND (a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date
              BETWEEN %(start)s AND %(end)s
    ),
    funnel AS (
        SELECT pt.patient_id,
               t.patient_id IS NOT NULL AS tested,
               t.patient_id IS NOT NULL AND d.patient_id IS NOT NULL AS detected,
               t.patient_id IS NOT NULL AND d.patient_id IS NOT NULL
                   AND s.patient_id IS NOT NULL AS switched
        FROM (SELECT DISTINCT patient_id FROM monitored) AS pt
        LEFT JOIN tested t ON t.patient_id = pt.patient_id
        LEFT JOIN detected d ON d.patient_id = pt.patient_id
        LEFT JOIN switched s ON s.patient_id = pt.patient_id
    )"""


@cache
def patients_sql() -> str:
    """Patients monitored: distinct patients with a monitored span in the period, per
    oncologist, and per month (a span counts in every month it touches, a patient once).
    And the funnel, one row: of the patients monitored, those tested (a draw collected in
    the period); of those, ESR1 detected (a detection in the period); of those, switched
    (a switched decision in the period)."""
    return _sql(
        """WITH {ctes}
        SELECT 'all' AS scope, NULL::date AS month, NULL::bigint AS oncologist_id,
               count(DISTINCT patient_id) AS monitored,
               NULL::bigint AS tested, NULL::bigint AS esr1_detected, NULL::bigint AS switched
        FROM monitored
        UNION ALL
        SELECT 'oncologist', NULL, oncologist_id, count(DISTINCT patient_id),
               NULL, NULL, NULL
        FROM monitored GROUP BY oncologist_id
        UNION ALL
        SELECT 'month', m.month, NULL,
               (sum(coalesce(c.change, 0))
                   OVER (ORDER BY m.month ROWS UNBOUNDED PRECEDING))::bigint,
               NULL, NULL, NULL
        FROM months m LEFT JOIN changes c ON c.month = m.month
        UNION ALL
        SELECT 'funnel', NULL, NULL, count(*),
               count(*) FILTER (WHERE tested), count(*) FILTER (WHERE detected),
               count(*) FILTER (WHERE switched)
        FROM funnel""",
        ctes=_sql(",".join((_SPANS, _ESR1_ALERTS, _MONTH_ISLANDS, _FUNNEL))),
    )


@cache
def draws_sql() -> str:
    """Draws due: draws with a due date in the range, not cancelled, that were collected
    or whose due date has come (a planned draw due later is not due yet). A draw is on time
    when collected no later than 14 days after its due date; the on-time share is taken
    over the draws whose outcome is known: collected ones, and planned ones more than 14
    days past due (late whatever happens next)."""
    return _grouped(
        """SELECT d.{draw.due_date} AS on_date, p.{patient.oncologist} AS oncologist_id,
                  d.{draw.collected_on} IS NOT NULL
                      OR d.{draw.due_date} + %(on_time_days)s < %(today)s::date AS decided,
                  d.{draw.collected_on} IS NOT NULL
                      AND d.{draw.collected_on} <= d.{draw.due_date} + %(on_time_days)s
                      AS on_time
           FROM {draw} d JOIN {patient} p ON p.{patient.id} = d.{draw.patient}
           WHERE d.{draw.due_date} BETWEEN %(start)s AND %(end)s
             AND d.{draw.status} <> %(cancelled)s
             AND (d.{draw.collected_on} IS NOT NULL OR d.{draw.due_date} <= %(today)s)""",
        """count(*) AS due,
           count(*) FILTER (WHERE x.decided) AS decided,
           count(*) FILTER (WHERE x.on_time) AS on_time""",
    )


@cache
def results_sql() -> str:
    """Results reported in the range, on draws not cancelled (one current result per
    draw). Turnaround: reported_on minus the draw's collected_on, in days."""
    return _grouped(
        """SELECT r.{result.reported_on} AS on_date, p.{patient.oncologist} AS oncologist_id,
                  r.{result.status} = %(failed)s AS failed,
                  (r.{result.reported_on} - d.{draw.collected_on})::float8 AS turnaround
           FROM {result} r
           JOIN {draw} d ON d.{draw.id} = r.{result.draw}
           JOIN {patient} p ON p.{patient.id} = d.{draw.patient}
           WHERE r.{result.reported_on} BETWEEN %(start)s AND %(end)s
             AND d.{draw.status} <> %(cancelled)s""",
        """count(*) AS results,
           count(*) FILTER (WHERE x.failed) AS failed,
           count(x.turnaround) AS turnaround_n,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY x.turnaround)
               AS turnaround_percentiles,
           count(*) FILTER (WHERE x.turnaround <= %(turnaround_days)s) AS within_target""",
    )


@cache
def alerts_sql() -> str:
    """ESR1 alerts raised in the range (by the day they were raised, in the clinic's zone):
    detections (first alert of an episode) and how many of them were found before
    documented progression (an esr1_switch alert; esr1_at_progression is found at it); and
    for every ESR1 alert, the minutes from its result being saved to the alert: the latest
    result of the alert's evidence saved at or before the alert was raised."""
    return _grouped(
        """SELECT e.created_on AS on_date, p.{patient.oncologist} AS oncologist_id,
                  e.first_of_episode AS detection,
                  e.first_of_episode AND e.kind = %(esr1_switch)s AS before_progression,
                  extract(epoch FROM e.created_at - (
                      SELECT max(r.{result.created_at}) FROM {result} r
                      WHERE r.{result.id} IN (
                          SELECT ids.value::bigint FROM jsonb_array_elements_text(
                              CASE WHEN jsonb_typeof(e.result_ids) = 'array'
                                   THEN e.result_ids ELSE '[]'::jsonb END) AS ids
                          WHERE ids.value ~ '^[0-9]{{1,18}}$')
                        AND r.{result.created_at} <= e.created_at
                  ))::float8 / 60 AS result_to_alert_minutes
           FROM esr1_alerts e JOIN {patient} p ON p.{patient.id} = e.patient_id
           WHERE e.created_on BETWEEN %(start)s AND %(end)s""",
        """count(*) FILTER (WHERE x.detection) AS detected,
           count(*) FILTER (WHERE x.before_progression) AS before_progression,
           count(x.result_to_alert_minutes) AS result_to_alert_n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.result_to_alert_minutes)
               AS result_to_alert_median""",
        ctes=(_ESR1_ALERTS,),
    )


@cache
def decisions_sql() -> str:
    """Oncologists' decisions on ESR1 alerts made in the range (by the day of the decision,
    in the clinic's zone): by kind; days from the alert to the decision; for a switch, days
    from the decision to the start of the new treatment (its recorded start date, else the
    switch date the decision gave)."""
    return _grouped(
        """SELECT (a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date AS on_date,
                  p.{patient.oncologist} AS oncologist_id,
                  a.{alert.decision} AS decision,
                  ((a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date
                   - (a.{alert.created_at} AT TIME ZONE %(tz)s)::date)::float8
                      AS days_to_decision,
                  CASE WHEN a.{alert.decision} = %(switched)s THEN (
                      COALESCE(nt.{treatment.start_date}, CASE
                          WHEN a.{alert.decision_details} ->> 'switch_date'
                               ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'
                          THEN (a.{alert.decision_details} ->> 'switch_date')::date END)
                      - (a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date)::float8
                  END AS days_to_switch
           FROM {alert} a
           JOIN {patient} p ON p.{patient.id} = a.{alert.patient}
           LEFT JOIN {treatment} nt ON nt.{treatment.id} = CASE
               WHEN a.{alert.decision_details} ->> 'new_treatment_id' ~ '^[0-9]{{1,18}}$'
               THEN (a.{alert.decision_details} ->> 'new_treatment_id')::bigint END
           WHERE a.{alert.kind} = ANY(%(esr1_kinds)s)
             AND a.{alert.status} = %(resolved)s
             AND a.{alert.decision} = ANY(%(decisions)s)
             AND (a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date
                 BETWEEN %(start)s AND %(end)s""",
        """count(*) AS decided,
           count(*) FILTER (WHERE x.decision = %(switched)s) AS switched,
           count(*) FILTER (WHERE x.decision = %(repeat_test)s) AS repeat_test,
           count(*) FILTER (WHERE x.decision = %(deferred)s) AS deferred,
           count(*) FILTER (WHERE x.decision = %(dismissed)s) AS dismissed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.days_to_decision)
               AS days_to_decision_median,
           count(x.days_to_switch) AS days_to_switch_n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.days_to_switch)
               AS days_to_switch_median""",
    )

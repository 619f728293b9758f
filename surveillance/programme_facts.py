"""The events the programme figures count (SPEC section 8), kept per patient as they change.

Computing the figures from the clinical tables reads a year of draws and results with their
joins on every call: about 3 s at 100,000 patients. Instead each patient's events are kept
as compact rows (ProgrammeFact), summed by month, oncologist and value (ProgrammeMonth) and
by month and value over every oncologist (ProgrammeMonthTotal), with each monitored
patient's days for the funnel (ProgrammeFunnel); the programme app reads those
(programme/queries.py): the overall and monthly figures a few thousand rows, the
per-oncologist ones a few tens of thousands, the funnel a row per monitored patient.

`refresh(patient_ids)` rewrites the patients' facts from their records, adds the difference
to both tables of monthly sums and rewrites their funnel rows, in one statement. The engine
calls it for every batch it evaluates, in the batch's transaction, and every change to a
record is followed by an evaluation (the outbox, patients/outbox.py), so the figures follow
each change within seconds. `rebuild()` recomputes everything from scratch (after a bulk
load that bypassed the services, and by its tests to check the two agree).

The facts (`figure`: `on_date`, `value`):
- span: a monitored span (a surveillance treatment of an eligible kind of patient, from the
  later of its start and enrolment until its end or first progression): its first day,
  `last_day` its last (NULL while open);
- island_start / island_end: the patient's spans merged where they overlap or meet (an
  island of days monitored): its first day, and its last (none while open);
- gap: the days between two islands of a patient: the last day of the one (`on_date`) and
  the first of the next (`last_day`). The patients monitored from S to E are then the
  islands begun by E, less those ended before S, less the gaps from S to E (a patient whose
  islands both reach into the range is counted once): three counts of sums by month;
- collected: a draw collected (collected or resulted): the collection day;
- draw: a draw with a due date that was collected: the due date; 1 on time (within 14 days
  of the due date), else 0. Draws not collected depend on today and are read live;
- result / result_failed: a result on a draw not cancelled: the report day; turnaround days;
- alert: an ESR1 alert: the day raised (clinic's zone); minutes from its latest evidence
  result being saved (NULL when unknown);
- detection_before / detection_at: the first ESR1 alert of a surveillance treatment
  (a detection), raised before documented progression (esr1_switch) or at it;
- decision_<kind>: a decision on an ESR1 alert: the day decided; days from the alert;
- switch_days: a switch decision: the day decided; days to the new treatment's start.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
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
    ProgrammeFact,
    ProgrammeFunnel,
    ProgrammeMonth,
    ProgrammeMonthTotal,
    Result,
    ResultStatus,
)
from surveillance.rules import AROMATASE_INHIBITORS, CDK46_INHIBITORS

# "Collected within 14 days of the due date" (SPEC 8): the same two weeks after which the
# engine calls a planned draw overdue under the default policy.
ON_TIME_DAYS = 14
DETECTION_KINDS = (AlertKind.ESR1_SWITCH, AlertKind.ESR1_AT_PROGRESSION)
CLINICAL_DECISIONS = (
    Decision.SWITCHED,
    Decision.REPEAT_TEST,
    Decision.DEFERRED,
    Decision.DISMISSED,
)
# Facts kept per day only (read per patient), not summed by month.
DAY_ONLY = ("span", "gap", "collected")


class Names:
    """A model's quoted table name (`{draw}`) and column names (`{draw.due_date}`), so a
    renamed field is renamed in the SQL and a removed one fails loudly."""

    def __init__(self, model):
        self._model = model

    def __str__(self) -> str:
        return connection.ops.quote_name(self._model._meta.db_table)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __getattr__(self, field: str) -> str:
        return connection.ops.quote_name(self._model._meta.get_field(field).column)


def sql(template: str, **fragments: str) -> str:
    """`template` with the models' names filled in (values always stay parameters)."""
    return template.format(
        **fragments,
        alert=Names(Alert),
        assessment=Names(Assessment),
        draw=Names(Draw),
        patient=Names(Patient),
        result=Names(Result),
        treatment=Names(Treatment),
        fact=Names(ProgrammeFact),
        month=Names(ProgrammeMonth),
        total=Names(ProgrammeMonthTotal),
        funnel=Names(ProgrammeFunnel),
    )


def _parameters(ids: list[int] | None) -> dict:
    return {
        "ids": ids,
        "tz": settings.TIME_ZONE,
        "on_time_days": ON_TIME_DAYS,
        "active": PatientStatus.ACTIVE,
        "positive": ReceptorStatus.POSITIVE,
        "metastatic": Setting.METASTATIC,
        # The surveillance regimen as the rules define it (SPEC 5 rule 1).
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
        "day_only": list(DAY_ONLY),
    }


# Each fragment yields (patient_id, oncologist_id, figure, on_date, last_day, value) for the
# patients chosen by {only} ("" for everyone).
_SPANS = """
    spans AS MATERIALIZED (
        SELECT patient_id, oncologist_id, since, until - 1 AS last_day
        FROM (
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
              {only_p}
            GROUP BY t.{treatment.id}, p.{patient.id}
        ) AS s
        -- A patient no longer active counts only over a span that ended: when an open one
        -- stopped being followed is not recorded.
        WHERE (until IS NULL OR since < until) AND (active OR until IS NOT NULL)
    ),
    ordered AS (
        SELECT *, since > max(coalesce(last_day, 'infinity'::date)) OVER (
                   PARTITION BY patient_id ORDER BY since, last_day NULLS LAST
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) + 1 IS NOT FALSE AS starts_island
        FROM spans
    ),
    numbered AS (
        SELECT *, count(*) FILTER (WHERE starts_island) OVER (
                   PARTITION BY patient_id ORDER BY since, last_day NULLS LAST
                   ROWS UNBOUNDED PRECEDING
               ) AS island
        FROM ordered
    ),
    islands AS (
        SELECT patient_id, min(oncologist_id) AS oncologist_id, min(since) AS first_day,
               CASE WHEN bool_or(last_day IS NULL) THEN NULL ELSE max(last_day) END
                   AS last_day,
               lead(min(since)) OVER (PARTITION BY patient_id ORDER BY min(since))
                   AS next_first_day
        FROM numbered GROUP BY patient_id, island
    )"""

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
        WHERE a.{alert.kind} = ANY(%(esr1_kinds)s) {only_a}
    )"""

_FACTS = """
    SELECT patient_id, oncologist_id, 'span' AS figure, since AS on_date, last_day,
           NULL::float8 AS value
    FROM spans
    UNION ALL
    SELECT patient_id, oncologist_id, 'island_start', first_day, NULL, NULL FROM islands
    UNION ALL
    SELECT patient_id, oncologist_id, 'island_end', last_day, NULL, NULL
    FROM islands WHERE last_day IS NOT NULL
    UNION ALL
    SELECT patient_id, oncologist_id, 'gap', last_day, next_first_day, NULL
    FROM islands WHERE next_first_day IS NOT NULL
    UNION ALL
    SELECT d.{draw.patient}, p.{patient.oncologist}, 'collected', d.{draw.collected_on},
           NULL, NULL
    FROM {draw} d JOIN {patient} p ON p.{patient.id} = d.{draw.patient}
    WHERE d.{draw.status} = ANY(%(collected)s) AND d.{draw.collected_on} IS NOT NULL {only_p}
    UNION ALL
    SELECT d.{draw.patient}, p.{patient.oncologist}, 'draw', d.{draw.due_date}, NULL,
           (d.{draw.collected_on} <= d.{draw.due_date} + %(on_time_days)s)::int::float8
    FROM {draw} d JOIN {patient} p ON p.{patient.id} = d.{draw.patient}
    WHERE d.{draw.due_date} IS NOT NULL AND d.{draw.collected_on} IS NOT NULL
      AND d.{draw.status} <> %(cancelled)s {only_p}
    UNION ALL
    SELECT d.{draw.patient}, p.{patient.oncologist},
           CASE WHEN r.{result.status} = %(failed)s THEN 'result_failed' ELSE 'result' END,
           r.{result.reported_on}, NULL,
           (r.{result.reported_on} - d.{draw.collected_on})::float8
    FROM {result} r
    JOIN {draw} d ON d.{draw.id} = r.{result.draw}
    JOIN {patient} p ON p.{patient.id} = d.{draw.patient}
    WHERE d.{draw.status} <> %(cancelled)s {only_p}
    UNION ALL
    SELECT e.patient_id, p.{patient.oncologist}, f.figure, e.created_on, NULL,
           CASE WHEN f.figure = 'alert' THEN extract(epoch FROM e.created_at - (
               SELECT max(r.{result.created_at}) FROM {result} r
               WHERE r.{result.id} IN (
                   SELECT ids.value::bigint FROM jsonb_array_elements_text(
                       CASE WHEN jsonb_typeof(e.result_ids) = 'array'
                            THEN e.result_ids ELSE '[]'::jsonb END) AS ids
                   WHERE ids.value ~ '^[0-9]{{1,18}}$')
                 AND r.{result.created_at} <= e.created_at
           ))::float8 / 60 END
    FROM esr1_alerts e
    JOIN {patient} p ON p.{patient.id} = e.patient_id
    CROSS JOIN LATERAL (
        SELECT 'alert' AS figure
        UNION ALL
        SELECT CASE WHEN e.kind = %(esr1_switch)s THEN 'detection_before'
                    ELSE 'detection_at' END
        WHERE e.first_of_episode
    ) AS f
    UNION ALL
    SELECT x.patient_id, x.oncologist_id, f.figure, x.decided_on, NULL, f.value
    FROM (
        SELECT a.{alert.patient} AS patient_id, p.{patient.oncologist} AS oncologist_id,
               a.{alert.decision} AS decision,
               (a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date AS decided_on,
               ((a.{alert.resolved_at} AT TIME ZONE %(tz)s)::date
                - (a.{alert.created_at} AT TIME ZONE %(tz)s)::date)::float8 AS days_to_decision,
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
          AND a.{alert.resolved_at} IS NOT NULL {only_p}
    ) AS x
    CROSS JOIN LATERAL (
        SELECT 'decision_' || x.decision AS figure, x.days_to_decision AS value
        UNION ALL
        SELECT 'switch_days', x.days_to_switch WHERE x.days_to_switch IS NOT NULL
    ) AS f"""

_COLUMNS = "patient_id, oncologist_id, figure, on_date, last_day, value"

# A patient's funnel days (ProgrammeFunnel's columns in order) from rows of its facts
# (patient_id, figure, on_date, last_day); empty where it has none of a kind.
_FUNNEL_DAYS = """patient_id,
    range_agg(daterange(on_date, last_day, '[]')) FILTER (WHERE figure = 'span'),
    coalesce(range_agg(daterange(on_date, on_date, '[]')) FILTER (WHERE figure = 'collected'),
             datemultirange()),
    coalesce(range_agg(daterange(on_date, on_date, '[]'))
                 FILTER (WHERE figure IN ('detection_before', 'detection_at')), datemultirange()),
    coalesce(range_agg(daterange(on_date, on_date, '[]'))
                 FILTER (WHERE figure = 'decision_switched'), datemultirange())"""


@cache
def _refresh_sql() -> str:
    """Replace the chosen patients' facts and add the difference to the monthly sums, per
    oncologist and over all of them, in one statement. A patient whose facts come out as they
    are kept (most of those an engine run evaluates) is only read: its facts, sums and funnel
    row are left as they are, with no rows deleted and inserted again (nor their foreign keys
    checked at commit). The sums are updated in a fixed order of their keys (the
    per-oncologist ones, then the totals: a data-modifying WITH that the statement does not
    read runs after it), so two refreshes that touch the same months wait for each other
    instead of deadlocking."""
    return sql(
        """WITH {ctes},
        computed AS MATERIALIZED (SELECT {columns} FROM ({facts}) AS facts),
        changed AS (
            -- The patients whose facts differ from those kept (compared as multisets; NULLs
            -- group together): only theirs are rewritten.
            SELECT DISTINCT patient_id
            FROM (
                SELECT {columns}, 1 AS n FROM computed
                UNION ALL
                SELECT f.{fact.patient}, f.{fact.oncologist_id}, f.{fact.figure},
                       f.{fact.on_date}, f.{fact.last_day}, f.{fact.value}, -1
                FROM {fact} f WHERE f.{fact.patient} = ANY(%(ids)s)
            ) AS c
            GROUP BY {columns}
            HAVING sum(n) <> 0
        ),
        old AS (
            -- As an array: read by the patient index, not by scanning the table.
            DELETE FROM {fact} f
            WHERE f.{fact.patient} = ANY(ARRAY(SELECT patient_id FROM changed))
            RETURNING f.{fact.oncologist_id} AS oncologist_id, f.{fact.figure} AS figure,
                      f.{fact.on_date} AS on_date, f.{fact.value} AS value
        ),
        new AS (
            INSERT INTO {fact} ({fact.patient}, {fact.oncologist_id}, {fact.figure},
                                {fact.on_date}, {fact.last_day}, {fact.value})
            SELECT {columns} FROM computed
            WHERE patient_id IN (SELECT patient_id FROM changed)
            RETURNING {fact.patient} AS patient_id, {fact.oncologist_id} AS oncologist_id,
                      {fact.figure} AS figure, {fact.on_date} AS on_date,
                      {fact.last_day} AS last_day, {fact.value} AS value
        ),
        delta AS (
            SELECT date_trunc('month', c.on_date::timestamp)::date AS month, c.oncologist_id,
                   c.figure, c.value, sum(c.n)::bigint AS n
            FROM (SELECT oncologist_id, figure, on_date, value, -1 AS n FROM old
                  UNION ALL
                  SELECT oncologist_id, figure, on_date, value, 1 AS n FROM new) AS c
            WHERE c.figure <> ALL(%(day_only)s)
            GROUP BY 1, 2, 3, 4
            HAVING sum(c.n) <> 0
        ),
        totals AS (
            INSERT INTO {total} ({total.month}, {total.figure}, {total.value}, {total.n})
            SELECT month, figure, value, sum(n) FROM delta
            GROUP BY month, figure, value
            HAVING sum(n) <> 0
            ORDER BY month, figure, value NULLS FIRST
            ON CONFLICT ON CONSTRAINT programme_month_total_cell
            DO UPDATE SET {total.n} = {total}.{total.n} + EXCLUDED.{total.n}
        ),
        funnel_days AS (
            SELECT {funnel_days} FROM new GROUP BY patient_id HAVING bool_or(figure = 'span')
        ),
        funnel_gone AS (
            DELETE FROM {funnel} x
            WHERE x.{funnel.patient} = ANY(ARRAY(SELECT patient_id FROM changed))
              AND x.{funnel.patient} NOT IN (SELECT patient_id FROM funnel_days)
        ),
        funnel_kept AS (
            INSERT INTO {funnel} ({funnel.patient}, {funnel.monitored}, {funnel.tested},
                                  {funnel.detected}, {funnel.switched})
            SELECT * FROM funnel_days ORDER BY patient_id
            ON CONFLICT ({funnel.patient}) DO UPDATE
            SET {funnel.monitored} = EXCLUDED.{funnel.monitored},
                {funnel.tested} = EXCLUDED.{funnel.tested},
                {funnel.detected} = EXCLUDED.{funnel.detected},
                {funnel.switched} = EXCLUDED.{funnel.switched}
            WHERE ({funnel}.{funnel.monitored}, {funnel}.{funnel.tested},
                   {funnel}.{funnel.detected}, {funnel}.{funnel.switched})
                  IS DISTINCT FROM (EXCLUDED.{funnel.monitored}, EXCLUDED.{funnel.tested},
                                    EXCLUDED.{funnel.detected}, EXCLUDED.{funnel.switched})
        )
        INSERT INTO {month} ({month.month}, {month.figure}, {month.oncologist_id},
                             {month.value}, {month.n})
        SELECT month, figure, oncologist_id, value, n FROM delta
        ORDER BY month, figure, oncologist_id NULLS FIRST, value NULLS FIRST
        ON CONFLICT ON CONSTRAINT programme_month_cell
        DO UPDATE SET {month.n} = {month}.{month.n} + EXCLUDED.{month.n}""",
        ctes=_ctes(only_patients=True),
        facts=_facts(only_patients=True),
        columns=_COLUMNS,
        funnel_days=_FUNNEL_DAYS,
    )


@cache
def _rebuild_sql() -> tuple[str, ...]:
    return (
        sql("DELETE FROM {fact}"),
        sql("DELETE FROM {month}"),
        sql("DELETE FROM {total}"),
        sql(
            """INSERT INTO {fact} ({fact.patient}, {fact.oncologist_id}, {fact.figure},
                                   {fact.on_date}, {fact.last_day}, {fact.value})
            WITH {ctes} SELECT {columns} FROM ({facts}) AS facts""",
            ctes=_ctes(only_patients=False),
            facts=_facts(only_patients=False),
            columns=_COLUMNS,
        ),
        sql(
            """INSERT INTO {month} ({month.month}, {month.figure}, {month.oncologist_id},
                                    {month.value}, {month.n})
            SELECT date_trunc('month', {fact.on_date}::timestamp)::date, {fact.figure},
                   {fact.oncologist_id}, {fact.value}, count(*)
            FROM {fact} WHERE {fact.figure} <> ALL(%(day_only)s)
            GROUP BY 1, 2, 3, 4"""
        ),
        sql(
            """INSERT INTO {total} ({total.month}, {total.figure}, {total.value}, {total.n})
            SELECT {month.month}, {month.figure}, {month.value}, sum({month.n})
            FROM {month} GROUP BY 1, 2, 3 HAVING sum({month.n}) <> 0"""
        ),
        sql("DELETE FROM {funnel}"),
        sql(
            """INSERT INTO {funnel} ({funnel.patient}, {funnel.monitored}, {funnel.tested},
                                     {funnel.detected}, {funnel.switched})
            SELECT {funnel_days}
            FROM (SELECT {fact.patient} AS patient_id, {fact.figure} AS figure,
                         {fact.on_date} AS on_date, {fact.last_day} AS last_day
                  FROM {fact}) AS facts
            GROUP BY patient_id HAVING bool_or(figure = 'span')""",
            funnel_days=_FUNNEL_DAYS,
        ),
    )


def _only(only_patients: bool) -> dict[str, str]:
    if not only_patients:
        return {"only_p": "", "only_a": ""}
    return {
        "only_p": sql("AND p.{patient.id} = ANY(%(ids)s)"),
        "only_a": sql("AND a.{alert.patient} = ANY(%(ids)s)"),
    }


def _ctes(*, only_patients: bool) -> str:
    return sql(",".join((_SPANS, _ESR1_ALERTS)), **_only(only_patients))


def _facts(*, only_patients: bool) -> str:
    return sql(_FACTS, **_only(only_patients))


def refresh(patient_ids) -> None:
    """Rewrite these patients' facts from their records, and the monthly sums with them.
    Call it inside the transaction that changed or evaluated them (the engine's batch)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_refresh_sql(), _parameters(ids))


def rebuild() -> None:
    """Every patient's facts and the monthly sums, from scratch."""
    with connection.cursor() as cursor:
        for statement in _rebuild_sql():
            cursor.execute(statement, _parameters(None))

"""The programme's figures as SQL over the kept facts (surveillance/programme_facts.py):
every figure is aggregated in Postgres, over the whole range, per calendar month and per
oncologist, in two statements whatever the number of patients or months.

Whole months come from the monthly sums: the overall and monthly figures from the sums over
every oncologist (ProgrammeMonthTotal, a few hundred rows a month), the per-oncologist ones
from the sums per oncologist (ProgrammeMonth). The range's first and last months may be
partial, and the facts of those months that fall outside the range are subtracted (few for
the default range, which ends today); draws not collected yet are read live, since whether
one is due or late depends on today. Medians and percentiles are `percentile_cont`'s,
computed from the summed values and their counts.

Table and column names come from the models' `_meta` (programme_facts.Names), values are
always parameters. Every statement answers rows of (`scope`, `month`, `oncologist_id`, ...):
`scope` is "all" for the whole range, "month" for one calendar month (`month` is its first
day) and "oncologist" for one patient's oncologist (the patient's current oncologist); the
patients statement adds one "funnel" row.
"""

from __future__ import annotations

from functools import cache

from surveillance.models import DrawStatus
from surveillance.programme_facts import (
    CLINICAL_DECISIONS,
    DAY_ONLY,
    DETECTION_KINDS,
    ON_TIME_DAYS,
    sql,
)

__all__ = [
    "CLINICAL_DECISIONS", "DETECTION_KINDS", "SETTINGS", "events_sql", "parameters",
    "patients_sql", "settings_sql",
]  # fmt: skip

# The facts summed by month that the events statement reads (the other sums, the patients'
# islands of monitored days, are the patients statement's).
SUMMED = (
    "draw", "result", "result_failed", "alert", "detection_before", "detection_at",
    "switch_days", *(f"decision_{kind}" for kind in CLINICAL_DECISIONS),
)  # fmt: skip
# A result reported within 14 days of collection.
TURNAROUND_TARGET_DAYS = 14
# Figures summed by month that several figures share one distribution of values.
SERIES = {
    "result": "turnaround",
    "result_failed": "turnaround",
    "alert": "result_to_alert",
    "switch_days": "days_to_switch",
    **{f"decision_{kind}": "days_to_decision" for kind in CLINICAL_DECISIONS},
}
SERIES_NAMES = tuple(dict.fromkeys(SERIES.values()))
# The scopes of the statements' rows, by the number the events statement gives them.
SCOPES = ("all", "month", "oncologist")


# Settings for the statements' transaction: they are short statements over summed rows, so
# compiling them (JIT, which their cost estimates would ask for) takes longer than running
# them, so does starting parallel workers for their few thousand rows, and their sorts of
# monthly sums fit in memory.
SETTINGS = {"jit": "off", "work_mem": "64MB", "max_parallel_workers_per_gather": "0"}


def settings_sql(*, local: bool = True) -> str:
    """One SELECT that applies SETTINGS, to the transaction (`local`) or the session."""
    flag = "true" if local else "false"
    return "SELECT " + ", ".join(
        f"set_config('{name}', '{value}', {flag})" for name, value in SETTINGS.items()
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
        "day_only": list(DAY_ONLY),
        # A draw not collected and not cancelled is a planned one.
        "planned": DrawStatus.PLANNED,
        "summed": list(SUMMED),
        "detections": ["detection_before", "detection_at"],
        "series_figures": list(SERIES),
        # Each figure's series as a number (1-based, in SERIES_NAMES), to sort by.
        "series_keys": [SERIES_NAMES.index(name) + 1 for name in SERIES.values()],
        "series_names": list(SERIES_NAMES),
        "scopes": list(SCOPES),
        # Calendar months from start's to end's: a number, so the planner knows how few.
        "months": (end.year - start.year) * 12 + end.month - start.month + 1,
    }


# The range's events as histograms: per scope, figure and value, the number of events.
# The monthly cells come from the sums over every oncologist (ProgrammeMonthTotal), the
# per-oncologist ones from the sums per oncologist (ProgrammeMonth): one CTE reads both, with
# the same corrections for the partial first and last months added to each, and groups them
# once; the overall cells are the monthly ones summed (a few thousand rows). `part` is the
# scope as a number (0 all, 1 month, 2 oncologist), so that the sorts below compare numbers.
_CELLS = """
    bounds AS (
        SELECT date_trunc('month', %(start)s::timestamp)::date AS first_month,
               date_trunc('month', %(end)s::timestamp)::date AS last_month
    ),
    edges AS MATERIALIZED (
        -- The first month's facts before the range starts.
        SELECT b.first_month AS month, f.{fact.oncologist_id} AS oncologist_id,
               f.{fact.figure} AS figure, f.{fact.value} AS value, -1 AS n
        FROM {fact} f, bounds b
        WHERE f.{fact.figure} = ANY(%(summed)s)
          AND f.{fact.on_date} >= b.first_month AND f.{fact.on_date} < %(start)s
        UNION ALL
        -- The last month's facts after the range ends.
        SELECT b.last_month, f.{fact.oncologist_id}, f.{fact.figure}, f.{fact.value}, -1
        FROM {fact} f, bounds b
        WHERE f.{fact.figure} = ANY(%(summed)s) AND f.{fact.on_date} > %(end)s
          AND f.{fact.on_date} < (b.last_month + interval '1 month')::date
        UNION ALL
        -- Draws planned and not collected whose due date has come: late (0) once more than
        -- 14 days past it, else not decided yet.
        SELECT date_trunc('month', d.{draw.due_date}::timestamp)::date,
               (SELECT p.{patient.oncologist} FROM {patient} p
                WHERE p.{patient.id} = d.{draw.patient}),
               CASE WHEN d.{draw.due_date} + %(on_time_days)s < %(today)s::date THEN 'draw'
                    ELSE 'draw_pending' END,
               CASE WHEN d.{draw.due_date} + %(on_time_days)s < %(today)s::date THEN 0.0
                    END,
               1
        FROM {draw} d
        WHERE d.{draw.status} = %(planned)s AND d.{draw.collected_on} IS NULL
          AND d.{draw.due_date} BETWEEN %(start)s AND LEAST(%(end)s, %(today)s)
    ),
    cells AS (
        SELECT 1 AS part, t.{total.month} AS month, NULL::bigint AS oncologist_id,
               t.{total.figure} AS figure, t.{total.value} AS value, t.{total.n}::int AS n
        FROM {total} t, bounds b
        WHERE t.{total.month} BETWEEN b.first_month AND b.last_month
          AND t.{total.figure} = ANY(%(summed)s) AND t.{total.n} <> 0
        UNION ALL
        SELECT 2, NULL, m.{month.oncologist_id}, m.{month.figure}, m.{month.value},
               m.{month.n}::int
        FROM {month} m, bounds b
        WHERE m.{month.month} BETWEEN b.first_month AND b.last_month
          AND m.{month.figure} = ANY(%(summed)s) AND m.{month.n} <> 0
        UNION ALL
        SELECT s.part, CASE WHEN s.part = 1 THEN e.month END,
               CASE WHEN s.part = 2 THEN e.oncologist_id END, e.figure, e.value, e.n
        FROM edges e CROSS JOIN (VALUES (1), (2)) AS s(part)
    ),
    parts AS MATERIALIZED (
        SELECT part, month, oncologist_id, figure, value, sum(n)::int AS n
        FROM cells
        GROUP BY part, month, oncologist_id, figure, value
        HAVING sum(n) <> 0
    ),
    hist AS (
        SELECT * FROM parts
        UNION ALL
        SELECT 0, NULL, NULL, figure, value, sum(n)::int
        FROM parts WHERE part = 1
        GROUP BY figure, value
        HAVING sum(n) <> 0
    )"""


@cache
def events_sql() -> str:
    """Every figure but the patients: per scope and figure, the count of events (`n`), those
    with value 1 (`ones`: draws on time) and with a value within the turnaround target; and
    per scope and series of values (turnaround, result_to_alert, days_to_decision,
    days_to_switch) the count of values and their median and 90th percentile, as
    percentile_cont gives them: the values at the ranks around p * (count - 1), interpolated."""
    return sql(
        """WITH {cells},
        series AS (
            SELECT h.part, h.month, h.oncologist_id, s.k AS series, h.value, sum(h.n)::int AS n
            FROM hist h
            JOIN unnest(%(series_figures)s::text[], %(series_keys)s::int[]) AS s(figure, k)
              ON s.figure = h.figure
            WHERE h.value IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5
        ),
        ranked AS (
            SELECT *, sum(n) OVER w - n AS below,
                   sum(n) OVER (PARTITION BY part, month, oncologist_id, series) AS total
            FROM series
            WINDOW w AS (PARTITION BY part, month, oncologist_id, series ORDER BY value)
        ),
        ranks AS (
            -- percentile_cont's arithmetic, in float8 as it does it.
            SELECT part, month, oncologist_id, series, value, n::float8 AS n,
                   below::float8 AS below, total::float8 AS total,
                   0.5::float8 * (total::float8 - 1) AS pos50,
                   0.9::float8 * (total::float8 - 1) AS pos90
            FROM ranked
        ),
        percentiles AS (
            SELECT part, month, oncologist_id, series, max(total) AS total,
                   max(pos50) AS pos50, max(pos90) AS pos90,
                   max(value) FILTER (WHERE below <= floor(pos50) AND floor(pos50) < below + n)
                       AS lo50,
                   max(value) FILTER (WHERE below <= ceil(pos50) AND ceil(pos50) < below + n)
                       AS hi50,
                   max(value) FILTER (WHERE below <= floor(pos90) AND floor(pos90) < below + n)
                       AS lo90,
                   max(value) FILTER (WHERE below <= ceil(pos90) AND ceil(pos90) < below + n)
                       AS hi90
            FROM ranks GROUP BY 1, 2, 3, 4
        )
        SELECT (%(scopes)s::text[])[part + 1] AS scope, month, oncologist_id, figure,
               n, ones, within_target, NULL::float8 AS p50, NULL::float8 AS p90
        FROM (
            SELECT part, month, oncologist_id, figure, sum(n)::bigint AS n,
                   (sum(n) FILTER (WHERE value = 1))::bigint AS ones,
                   (sum(n) FILTER (WHERE value <= %(turnaround_days)s))::bigint
                       AS within_target
            FROM hist GROUP BY 1, 2, 3, 4
        ) AS counts
        UNION ALL
        SELECT (%(scopes)s::text[])[part + 1], month, oncologist_id,
               (%(series_names)s::text[])[series], total::bigint, NULL, NULL,
               lo50 + (hi50 - lo50) * (pos50 - floor(pos50)),
               lo90 + (hi90 - lo90) * (pos90 - floor(pos90))
        FROM percentiles""",
        cells=sql(_CELLS),
    )


@cache
def patients_sql() -> str:
    """Patients monitored: overall and per oncologist, those with a monitored day in the
    range; per month, those with one in the month (within the range). A patient's spans are
    kept merged into islands of days (surveillance/programme_facts.py), so a count is the
    islands begun by the range's last day, less those ended before its first, less the gaps
    between two islands both reaching into it: sums by month, corrected for the facts of the
    partial first and last months outside the range. And the funnel, one row: of the
    patients monitored, those tested (a draw collected in the range); of those, ESR1
    detected (a detection in the range); of those, switched (a switch decided in it): from
    each monitored patient's kept days (ProgrammeFunnel), four overlaps of ranges of days."""
    return sql(
        """WITH bounds AS (
            SELECT date_trunc('month', %(start)s::timestamp)::date AS first_month,
                   date_trunc('month', %(end)s::timestamp)::date AS last_month
        ),
        months AS MATERIALIZED (
            SELECT m::date AS month,
                   GREATEST(m::date, %(start)s::date) AS lo,
                   LEAST((m + interval '1 month')::date - 1, %(end)s::date) AS hi
            FROM generate_series(0, %(months)s - 1) AS k,
                 LATERAL (SELECT date_trunc('month', %(start)s::timestamp)
                                 + make_interval(months => k) AS m) AS first_day
        ),
        edges AS MATERIALIZED (
            -- Islands begun in the last month after the range ends.
            SELECT b.last_month AS month, f.{fact.oncologist_id} AS oncologist_id
            FROM {fact} f, bounds b
            WHERE f.{fact.figure} = 'island_start' AND f.{fact.on_date} > %(end)s
              AND f.{fact.on_date} < (b.last_month + interval '1 month')::date
            UNION ALL
            -- Islands ended in the first month before the range starts.
            SELECT b.first_month, f.{fact.oncologist_id}
            FROM {fact} f, bounds b
            WHERE f.{fact.figure} = 'island_end'
              AND f.{fact.on_date} >= b.first_month AND f.{fact.on_date} < %(start)s
        ),
        gaps AS MATERIALIZED (
            SELECT f.{fact.oncologist_id} AS oncologist_id, f.{fact.on_date} AS gap_from,
                   f.{fact.last_day} AS gap_to
            FROM {fact} f
            WHERE f.{fact.figure} = 'gap' AND f.{fact.on_date} >= %(start)s
              AND f.{fact.last_day} <= %(end)s
        ),
        counted AS (
            SELECT m.{month.oncologist_id} AS oncologist_id, m.{month.n}::int AS n
            FROM {month} m, bounds b
            WHERE m.{month.figure} = 'island_start' AND m.{month.month} <= b.last_month
            UNION ALL
            SELECT m.{month.oncologist_id}, -m.{month.n}::int
            FROM {month} m, bounds b
            WHERE m.{month.figure} = 'island_end' AND m.{month.month} < b.first_month
            UNION ALL
            SELECT oncologist_id, -1 FROM edges
            UNION ALL
            SELECT oncologist_id, -1 FROM gaps
        ),
        pooled AS MATERIALIZED (
            SELECT t.{total.month} AS month, t.{total.figure} AS figure, t.{total.n}::int AS n
            FROM {total} t, bounds b
            WHERE t.{total.figure} IN ('island_start', 'island_end')
              AND t.{total.month} <= b.last_month
        )
        SELECT CASE WHEN GROUPING(oncologist_id) = 0 THEN 'oncologist' ELSE 'all' END AS scope,
               NULL::date AS month, oncologist_id, coalesce(sum(n), 0)::bigint AS monitored,
               NULL::bigint AS tested, NULL::bigint AS esr1_detected, NULL::bigint AS switched
        FROM counted
        GROUP BY GROUPING SETS ((), (oncologist_id))
        HAVING GROUPING(oncologist_id) = 1 OR sum(n) <> 0
        UNION ALL
        SELECT 'month', m.month, NULL,
               (coalesce((SELECT sum(p.n) FROM pooled p
                          WHERE p.figure = 'island_start' AND p.month <= m.month), 0)
                - coalesce((SELECT sum(p.n) FROM pooled p
                            WHERE p.figure = 'island_end' AND p.month < m.month), 0)
                - (SELECT count(*) FROM edges e WHERE e.month = m.month)
                - (SELECT count(*) FROM gaps g WHERE g.gap_from >= m.lo AND g.gap_to <= m.hi)
               )::bigint,
               NULL, NULL, NULL
        FROM months m
        UNION ALL
        SELECT 'funnel', NULL, NULL, count(*), count(*) FILTER (WHERE tested),
               count(*) FILTER (WHERE tested AND detected),
               count(*) FILTER (WHERE tested AND detected AND switched)
        FROM (
            SELECT f.{funnel.tested} && q.days AS tested,
                   f.{funnel.detected} && q.days AS detected,
                   f.{funnel.switched} && q.days AS switched
            FROM {funnel} f, (SELECT daterange(%(start)s::date, %(end)s::date, '[]') AS days) q
            WHERE f.{funnel.monitored} && q.days
        ) AS funnel"""
    )

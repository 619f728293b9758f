"""A year of programme history for the synthetic cohort (`seed_cohort --history`).

The cohort is written as the clinic stands: collected draws without the due date a planned
draw would have given them, and no alerts or decisions (the engine's first run raises every
alert today). So that every programme figure has something to count, after the engine has
run once, the synthetic patients' rows are given, set-wise and without history rows (this
is synthetic data, not a clinical change):

  - a due date on every collected draw that has none: collected 7 days early to 21 days
    late, so about a quarter are late;
  - each result saved at 09:00 on its report day, and each ESR1 alert raised 0-5 minutes
    after the latest result of its evidence (so detections fall over the year, before and
    at progression as the engine classed them);
  - seven in ten ESR1 alerts decided 0-20 days after they were raised, if that day has
    passed: 4 in 10 switched (the SERD starting 0-9 days after the decision), 1 repeat test,
    1 deferred, 1 dismissed.

Which draw is how late, and which alert is decided how and when, is picked by a number made
from the row's own key (the patient's MRN with the draw's day and assay, or with the alert's
kind), never by its id: the same cohort gets the same history whatever the database's
sequences stood at (a test database after other tests, a second seeding).

Then the programme facts are made from scratch (they follow the engine, which this bypasses).
"""

from __future__ import annotations

from datetime import date

import pgtrigger
from django.conf import settings
from django.db import connection, transaction

from patients.audit import history_trigger_ignore_list
from surveillance import programme_facts
from surveillance.models import Alert, Draw, Result
from surveillance.synthetic_cohort.generate import MRN_PREFIX


def _number(key: str) -> str:
    """SQL for a whole number from 0 to 2**28 - 1 picked by the text `key` (md5's first
    seven hex digits): the same key, the same number, on any server."""
    return f"('x' || substr(md5({key}), 1, 7))::bit(28)::int"


_KEYS = {
    "DRAW_KEY": _number("p.mrn || ':' || d.collected_on::text || ':' || d.assay"),
    "LATEST_ALERT_KEY": _number("latest.mrn || ':' || a.kind"),
    "ALERT_KEY": _number("p.mrn || ':' || a.kind"),
}


def _with_keys(statement: str) -> str:
    for name, number in _KEYS.items():
        statement = statement.replace(name, number)
    return statement


_STATEMENTS = (
    """UPDATE surveillance_draw d SET due_date = d.collected_on - ((DRAW_KEY %% 29) - 7)::int
    FROM patients_patient p
    WHERE p.id = d.patient_id AND p.mrn LIKE %(synthetic)s
      AND d.due_date IS NULL AND d.status IN ('collected', 'resulted')""",
    """UPDATE surveillance_result r
    SET created_at = (r.reported_on + time '09:00') AT TIME ZONE %(tz)s
    FROM surveillance_draw d JOIN patients_patient p ON p.id = d.patient_id
    WHERE d.id = r.draw_id AND p.mrn LIKE %(synthetic)s""",
    # The latest evidence result of each alert: its ids unnested, then joined by key (a join
    # per alert on `id IN (subquery)` would read every result once per alert).
    """UPDATE surveillance_alert a
    SET created_at = latest.saved_at + make_interval(secs => (LATEST_ALERT_KEY %% 300)::int)
    FROM (
        SELECT a2.id, p.mrn, max(r.created_at) AS saved_at
        FROM surveillance_alert a2
        JOIN patients_patient p ON p.id = a2.patient_id
        CROSS JOIN LATERAL jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(a2.result_ids) = 'array'
                 THEN a2.result_ids ELSE '[]'::jsonb END) AS e(value)
        JOIN surveillance_result r ON r.id = e.value::bigint
        WHERE a2.kind IN ('esr1_switch', 'esr1_at_progression') AND p.mrn LIKE %(synthetic)s
        GROUP BY a2.id, p.mrn
    ) AS latest
    WHERE a.id = latest.id""",
    """UPDATE surveillance_alert a
    SET status = 'resolved',
        resolved_at = a.created_at + make_interval(days => (ALERT_KEY %% 21)::int),
        resolved_by_id = p.oncologist_id,
        decision = (ARRAY['switched', 'switched', 'switched', 'switched',
                          'repeat_test', 'deferred', 'dismissed'])[ALERT_KEY %% 10 + 1],
        decision_details = CASE WHEN ALERT_KEY %% 10 < 4 THEN jsonb_build_object(
            'switch_date',
            (a.created_at::date + (ALERT_KEY %% 21)::int + (ALERT_KEY %% 10)::int)::text
        ) ELSE '{}'::jsonb END,
        note = 'synthetic history'
    FROM patients_patient p
    WHERE p.id = a.patient_id AND p.mrn LIKE %(synthetic)s AND a.status = 'open'
      AND a.kind IN ('esr1_switch', 'esr1_at_progression')
      AND ALERT_KEY %% 10 < 7
      AND (a.created_at + make_interval(days => (ALERT_KEY %% 21)::int)) AT TIME ZONE %(tz)s
          < %(today)s::date""",
)
_STATEMENTS = tuple(_with_keys(statement) for statement in _STATEMENTS)


def needs_history() -> bool:
    """True while a synthetic patient's collected draw has no due date."""
    return Draw.objects.filter(
        patient__mrn__startswith=MRN_PREFIX,
        status__in=["collected", "resulted"],
        due_date__isnull=True,
    ).exists()


def add_programme_history(*, today: date) -> None:
    """Give the synthetic cohort its year of history (above), then make the programme
    facts from scratch. Run it after the engine's first run over the cohort."""
    ignore = history_trigger_ignore_list(pgtrigger.Update, models=[Draw, Result, Alert])
    params = {"synthetic": f"{MRN_PREFIX}%", "tz": settings.TIME_ZONE, "today": today}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignore])
        for statement in _STATEMENTS:
            cursor.execute(statement, params)
        cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")
        programme_facts.rebuild()

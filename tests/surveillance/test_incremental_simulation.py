"""The gate of the incremental nightly run: day after day, over more than a year of clinic life,
it leaves exactly the planned draws, alerts and verdicts a full run would.

A synthetic cohort (seed_cohort's generator) lives through SIMULATION_DAYS consecutive days:
each day draws are collected, results come back, scans, appointments, next lines, deaths and
oncologists' decisions arrive (surveillance/synthetic_cohort/daily.py, decisions through the
decision service with the clock on that day), then the nightly run evaluates, incrementally
(the weekly full run is switched off here, so that every day is incremental but the one of a
policy change). Then the full engine runs on the same stored inputs in a savepoint: if it
opens, resolves, updates, plans, moves or cancels anything, or writes another verdict, the
incremental run had missed it that day. The savepoint is rolled back, so the next day goes on
from what the incremental run alone left.

Cohort size and days: SIMULATION_PATIENTS (default 500, about 2.5 minutes on two cores) and
SIMULATION_DAYS (default 400) in the environment; it passed here with 1,000 and 1,500 patients
too (4 and 26 minutes, the latter on a machine loaded by other work).
"""

import json
import os
import random
from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from patients.models import Patient
from surveillance import engine
from surveillance.models import Alert, Draw, SurveillancePolicy, SurveillanceState
from surveillance.synthetic_cohort import seed_cohort
from surveillance.synthetic_cohort.daily import simulate_day
from tests.factories import TODAY

PATIENTS = int(os.environ.get("SIMULATION_PATIENTS", "500"))
DAYS = int(os.environ.get("SIMULATION_DAYS", "400"))
POLICY_CHANGE_DAY = 200

# What the engine leaves, table by table, as one digest each (computed by Postgres: cheap
# enough to take twice a day for a year), and in full only to explain a difference.
OUTPUTS = {
    "planned draws": (
        Draw.objects.filter(status="planned"),
        ("id", "patient_id", "due_date", "pinned", "status", "cancel_reason"),
    ),
    "cancelled draws": (
        Draw.objects.filter(status="cancelled"),
        ("id", "patient_id", "due_date", "cancel_reason"),
    ),
    "alerts": (
        Alert.objects.all(),
        (
            "id",
            "patient_id",
            "kind",
            "subject",
            "status",
            "decision",
            "severity",
            "title",
            "rationale",
            "evidence",
            "result_ids",
            "evidence_version",
            "policy_version",
        ),
    ),  # fmt: skip
    "verdicts": (
        SurveillanceState.objects.all(),
        (
            "patient_id",
            "eligible",
            "reason",
            "risk_level",
            "risk_factors",
            "next_draw_due",
            "surveillance_treatment_id",
            "policy_version",
            "next_change",
        ),
    ),  # fmt: skip
}


def digests() -> dict[str, str]:
    found = {}
    for name, (queryset, columns) in OUTPUTS.items():
        sql, params = queryset.order_by(columns[0]).values_list(*columns).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, '|'), '')) FROM ({sql}) t",
                           params)  # fmt: skip
            found[name] = cursor.fetchone()[0]
    return found


def rows() -> dict[str, set]:
    def plain(value):
        return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value

    return {
        name: {tuple(plain(v) for v in row) for row in queryset.values_list(*columns)}
        for name, (queryset, columns) in OUTPUTS.items()
    }


def full_run_in_savepoint(today):
    """The full engine on the same stored inputs; what it leaves, then rolled back."""
    savepoint = transaction.savepoint()
    try:
        run = engine.run_nightly(today=today, full=True)
        return run, digests()
    finally:
        transaction.savepoint_rollback(savepoint)


def explain(today) -> str:
    """Each table's rows only after the incremental run, and only after the full run."""
    incremental = rows()
    savepoint = transaction.savepoint()
    try:
        engine.run_nightly(today=today, full=True)
        full = rows()
    finally:
        transaction.savepoint_rollback(savepoint)
    lines = [f"day {today}: the full run differs from the incremental run"]
    for name in OUTPUTS:
        only_incremental = sorted(incremental[name] - full[name], key=repr)[:4]
        only_full = sorted(full[name] - incremental[name], key=repr)[:4]
        if only_incremental or only_full:
            lines.append(f"  {name}: {len(incremental[name] ^ full[name])} rows differ")
            lines += [f"    incremental only: {r}" for r in only_incremental]
            lines += [f"    full only:        {r}" for r in only_full]
    return "\n".join(lines)


@pytest.mark.django_db
def test_incremental_runs_leave_what_full_runs_would_day_after_day(settings):
    settings.SURVEILLANCE_FULL_RUN_WEEKDAY = None  # every day incremental, to be checked
    start = TODAY
    seed_cohort(patients=PATIENTS, seed=7, today=start, audit=False)
    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    actor = User.objects.filter(role="oncologist").order_by("id").first()
    rng = random.Random(2026)
    first = engine.run_nightly(today=start)
    assert first.plan.kind == "full"

    evaluated, changes = 0, {}
    for n in range(1, DAYS + 1):
        today = start + timedelta(days=n)
        noon = timezone.make_aware(datetime.combine(today, time(12)))
        with time_machine.travel(noon, tick=False):
            day = simulate_day(today, rng, patient_ids=ids, actor=actor)
            for what, count in day.counts.items():
                changes[what] = changes.get(what, 0) + count
            if n == POLICY_CHANGE_DAY:
                SurveillancePolicy.objects.create(
                    version=2, draw_due_lookahead_days=10, interval_standard_risk_days=90,
                    note="simulated policy change",
                )  # fmt: skip
            run = engine.run_nightly(today=today)
            assert run.stats.failed == 0
            expected_kind = "full" if n == POLICY_CHANGE_DAY else "incremental"
            assert run.plan.kind == expected_kind, (today, run.plan.reason)
            evaluated += run.stats.evaluated
            incremental = digests()
            full, after_full = full_run_in_savepoint(today)
            if after_full != incremental:
                pytest.fail(explain(today), pytrace=False)
            assert (full.stats.opened, full.stats.resolved, full.stats.updated) == (0, 0, 0)

    share = evaluated / (PATIENTS * DAYS)
    print(
        f"\n{DAYS} days, {PATIENTS} patients: the incremental runs evaluated {share:.1%} of"
        f" patient-days; changes written: {changes}"
    )
    # The simulation did exercise what it claims to.
    for what in ("draws collected", "results", "scans", "next lines", "appointments"):
        assert changes.get(what, 0) > DAYS / 10, (what, changes)
    assert sum(v for k, v in changes.items() if k.startswith("decisions")) > DAYS / 10, changes
    assert share < 0.5

"""Benchmark of the incremental nightly run against the full run and the read floor.

    .venv/bin/python bench/incremental_bench.py --patients 100000 [--reuse] [--keep]

A script, not a test. It recreates a dedicated database (ESR1_BENCH_DB, default
esr1watch_incremental_bench) on the Postgres server of DATABASE_URL, migrates it, seeds the
synthetic cohort (seed_cohort, seed 1, as of day 0), and nothing more: as a user has it,
seed_cohort and the engine keep the planner's statistics fresh themselves
(surveillance/planner_stats.py), as the application's role (`--reuse` keeps a cohort seeded
by an earlier `--keep` run). Then, each timed phase in a fresh child process (peak memory is
the phase's own):

  full run, day 0         run_surveillance --full: the first run, plans and alerts everybody
  full run, day 0 again   steady state
  changes, day 1          day 1's draws, results, scans, appointments, next lines, each
                          changed patient marked (surveillance/synthetic_cohort/daily.py)
  sweeps, day 1           the marked patients evaluated as the worker does through the day
                          (engine.run_marked: on-commit tasks and the minute sweep)
  (why, day 2)            not timed, read-only: why the patients due on day 2 are due, and
                          how many of them the run will find with the same verdict
  incremental run, day 2  the nightly run the next morning: the patients whose next change
                          has come (and any mark left)
  full run, day 2         the same day evaluated in full straight after: what the nightly run
                          cost before; it must open, resolve and update nothing
  changes, day 2          another day of changes, this time left marked (worker down all day)
  incremental, marks left the nightly run for day 3 evaluating the whole day's changes too
  full run, day 3         again the full run of the same day, which must change nothing
  read floor              the full run's SELECTs replayed raw (engine_bench's read floor)

The weekly full run is switched off for the children (SURVEILLANCE_FULL_RUN_WEEKDAY empty), so
day 1 is incremental whatever weekday it falls on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("ESR1_BENCH_DB", "esr1watch_incremental_bench")
os.environ["SURVEILLANCE_FULL_RUN_WEEKDAY"] = ""

import engine_bench as eb  # noqa: E402 - bench/ is on sys.path as the script's folder

ROOT = Path(__file__).resolve().parent.parent
SEED = 1
TARGETS = {"incremental_seconds": 1.0, "speedup": 10.0, "peak_mb": 500.0}


# --- Phases (each in its own child process) --------------------------------------------------


def phase_run(today: date, *, full: bool) -> dict:
    from surveillance import engine

    def run():
        nightly = engine.run_nightly(today=today, full=full)
        return {"kind": nightly.plan.kind, "reason": nightly.plan.reason,
                **nightly.stats.as_dict()}  # fmt: skip

    return eb._measure(run)


def phase_day(today: date) -> dict:
    from accounts.models import User
    from patients.models import Patient
    from surveillance.synthetic_cohort.daily import simulate_day

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    actor = User.objects.filter(role="oncologist").order_by("id").first()

    def run():
        day = simulate_day(today, random.Random(SEED), patient_ids=ids, actor=actor)
        return {"changed": len(day.changed), **day.counts}

    return eb._measure(run)


def phase_sweep(today: date) -> dict:
    from surveillance import engine

    def run():
        total = engine.RunStats()
        while True:
            stats = engine.run_marked(today=today)
            if not stats.evaluated + stats.failed:
                return {"kind": "sweeps", **total.as_dict()}
            total.add(stats)

    return eb._measure(run)


def phase_why(today: date) -> dict:
    """Not timed: why the patients whose next change has come by `today` are due, and how
    many of them the run will find with the same verdict (a wasted evaluation). Read-only.

    Each such verdict stood from the day before its next change; its causes are those days
    (rules.next_change_causes), and "unchanged" means today's verdict of the same inputs has
    the same eligibility, reason, risk, due date and alerts (its next change aside)."""
    from dataclasses import replace

    from django.db import connection

    from surveillance import engine, rules
    from surveillance.rules_input import load_batch

    policy = engine.current_policy()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT patient_id, next_change, evaluated_for FROM surveillance_surveillancestate"
            " WHERE next_change <= %s ORDER BY patient_id",
            [today],
        )
        due = {pid: (next_change, since) for pid, next_change, since in cursor.fetchall()}
    causes: dict[str, list[int]] = {}
    ids = list(due)
    for start in range(0, len(ids), engine.BATCH_SIZE):
        part = ids[start : start + engine.BATCH_SIZE]
        # Loaded as of the earliest day asked about, so every appointment is there.
        first = min(due[i][1] for i in part)
        for patient in load_batch(part, today=first).inputs:
            before_day = due[patient.id][0] - timedelta(days=1)
            found = rules.next_change_causes(patient, today=before_day, policy=policy)
            before = rules.evaluate(patient, today=before_day, policy=policy)
            now = rules.evaluate(patient, today=today, policy=policy)
            same = replace(before, next_change=None) == replace(now, next_change=None)
            row = causes.setdefault(" + ".join(found) or "none", [0, 0])
            row[0] += 1
            row[1] += same
    return {"seconds": 0.0, "detail": {"why": causes, "due": len(ids)}}


PHASES = {
    "why": phase_why,
    "sweep": phase_sweep,
    "full": lambda today: phase_run(today, full=True),
    "incremental": lambda today: phase_run(today, full=False),
    "day": phase_day,
}


def _run_child(phase: str, today: date) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--today", today.isoformat()]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    sys.stderr.write(proc.stdout + proc.stderr)
    raise SystemExit(f"phase {phase} failed (exit {proc.returncode})")


# --- Orchestration ---------------------------------------------------------------------------


def _cohort_exists() -> bool:
    import psycopg
    from common import server_url, with_database

    try:
        with psycopg.connect(with_database(server_url(), eb.BENCH_DB)) as conn:
            return conn.execute("SELECT count(*) FROM patients_patient").fetchone()[0] > 0
    except psycopg.Error:
        return False


def _reset_runs() -> None:
    """A reused cohort goes back to the state right after seeding (no engine output), as the
    owner (the reset switches the history triggers off and VACUUMs); the phases run as the
    application's role, as a user's run does."""
    from django.db import connection, transaction

    from config import dbroles

    with dbroles.as_owner():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("DELETE FROM surveillance_surveillancerun")
            cursor.execute("DELETE FROM patients_pendingevaluation")
        eb._reset_engine_output()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="reuse a cohort left by --keep")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--today", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    eb._configure_environment()
    if args.phase:
        import django

        django.setup()
        result = PHASES[args.phase](date.fromisoformat(args.today))
        print("BENCH-RESULT " + json.dumps(result, default=str))
        return

    import django

    django.setup()
    from django.db import connection

    from patients.models import Patient, clinic_today

    day0 = date.fromisoformat(args.today) if args.today else clinic_today()
    day1, day2, day3 = (day0 + timedelta(days=n) for n in (1, 2, 3))
    rows = []
    try:
        if args.reuse and _cohort_exists():
            print("reusing the seeded cohort", file=sys.stderr)
            _reset_runs()
        else:
            seed = eb._prepare_database(args.patients, day0)
            rows.append(("seed_cohort", {**seed, "queries": None}))
        patients = Patient.objects.count()
        print("full runs, one day of changes, incremental run, full run, floor ...",
              file=sys.stderr)  # fmt: skip
        rows.append(("full run, day 0 (first)", _run_child("full", day0)))
        rows.append(("full run, day 0 (steady)", _run_child("full", day0)))
        rows.append(("changes, day 1", _run_child("day", day1)))
        rows.append(("sweeps, day 1 (through the day)", _run_child("sweep", day1)))
        why = _run_child("why", day2)
        incremental = _run_child("incremental", day2)
        rows.append(("incremental run, day 2", incremental))
        full = _run_child("full", day2)
        rows.append(("full run, day 2", full))
        rows.append(("changes, day 2 (left marked)", _run_child("day", day2)))
        rows.append(("incremental run, day 3, marks left", _run_child("incremental", day3)))
        rows.append(("full run, day 3", _run_child("full", day3)))
        rows.append(("read floor (full run's SELECTs)", eb._run_child("read_floor", day3)))
    finally:
        connection.close()
        if not args.keep:
            eb._drop_database()
    _print(rows, patients, day0, incremental, full)
    _print_why(why["detail"], day2)


def _print(rows, patients: int, day0: date, incremental: dict, full: dict) -> None:
    print()
    print(f"ESR1 Watch incremental benchmark: {patients:,} patients, seed {SEED}, day 0 {day0},"
          f" {os.cpu_count()} CPUs")  # fmt: skip
    header = (f"{'measurement':<34} {'wall s':>8} {'cpu s':>7} {'db cpu':>7} {'queries':>8}"
              f" {'peak MB':>8} {'load':>5}  detail")  # fmt: skip
    print(header)
    print("-" * (len(header) + 30))
    for label, row in rows:
        cpu = "" if row.get("cpu_seconds") is None else f"{row['cpu_seconds']:.2f}"
        db_cpu = "" if row.get("db_cpu_seconds") is None else f"{row['db_cpu_seconds']:.2f}"
        queries = "" if row.get("queries") is None else f"{row['queries']:,}"
        peak = "" if row.get("peak_mb") is None else f"{row['peak_mb']:.0f}"
        load = "" if row.get("load") is None else f"{row['load']:.1f}"
        detail = row.get("detail") or {}
        if detail.get("kind") == "sweeps":
            note = f"evaluated {detail['evaluated']:,}, opened {detail['opened']}"
        elif "evaluated" in detail:
            note = (f"{detail['kind']}: evaluated {detail['evaluated']:,}, opened"
                    f" {detail['opened']}, resolved {detail['resolved']}, updated"
                    f" {detail['updated']}")  # fmt: skip
        elif "changed" in detail:
            note = ", ".join(f"{k} {v}" for k, v in detail.items())
        elif "rows" in row:
            note = f"{row['rows']:,} rows"
        else:
            note = ", ".join(f"{k} {v:,}" for k, v in detail.items())
        print(f"{label:<34} {row['seconds']:>8.2f} {cpu:>7} {db_cpu:>7} {queries:>8} {peak:>8}"
              f" {load:>5}  {note}")  # fmt: skip
    speedup = full["seconds"] / incremental["seconds"]
    floor = rows[-1][1]["seconds"]
    quiet = full["detail"]
    checks = [
        (f"incremental run < {TARGETS['incremental_seconds']:.0f} s",
         f"{incremental['seconds']:.2f} s",
         incremental["seconds"] < TARGETS["incremental_seconds"]),
        (f"full / incremental >= {TARGETS['speedup']:.0f}x", f"{speedup:.1f}x",
         speedup >= TARGETS["speedup"]),
        ("incremental below the read floor", f"{incremental['seconds']:.2f} s vs {floor:.2f} s",
         incremental["seconds"] < floor),
        (f"incremental peak memory < {TARGETS['peak_mb']:.0f} MB",
         f"{incremental['peak_mb']:.0f} MB", incremental["peak_mb"] < TARGETS["peak_mb"]),
        ("full run after it changes nothing",
         f"opened {quiet['opened']}, resolved {quiet['resolved']}, updated {quiet['updated']}",
         quiet["opened"] == quiet["resolved"] == quiet["updated"] == 0),
    ]  # fmt: skip
    print("targets:")
    for label, value, met in checks:
        print(f"  {'met   ' if met else 'MISSED'}  {label:<36} {value}")


def _print_why(why: dict, day: date) -> None:
    print(f"\nwhy the {why['due']:,} patients whose next change had come by {day} were due"
          " (verdict unchanged: evaluated for nothing)")  # fmt: skip
    for cause, (selected, same) in sorted(why["why"].items(), key=lambda kv: -kv[1][0]):
        print(f"  {cause:<44} {selected:>7,}  unchanged {same:>6,}")


if __name__ == "__main__":
    main()

"""Benchmark of the surveillance engine against a per-patient ORM loop and the read floor.

    .venv/bin/python bench/engine_bench.py --patients 10000 [--patients 100000] [--keep]

A script, not a test. For each size it recreates a dedicated database, `esr1watch_bench`, on
the Postgres server of DATABASE_URL (default postgres://postgres@127.0.0.1:5432/), migrates
it, seeds the synthetic cohort (seed_cohort, seed 1) and then measures on that one data set as
a user would have it, with no maintenance step a user would not take (seed_cohort leaves its
tables analysed; a large run ANALYZEs what it changed by more than a tenth):

  engine first run     engine.run_all(today): plans draws, opens alerts, writes states
  engine second run    the same again, straight after: steady state, nothing left to change
  read floor           the SELECTs the engine's read (rules_input.load_batch) issues for every
                       batch, replayed on a raw psycopg cursor with fetchall(): Postgres +
                       transfer + row decoding, none of the engine's Python
  engine read          rules_input.load_batch, the engine's own read path (the floor plus
                       building rules.PatientIn)
  ORM loop, 1st/2nd    the same rules the way a straightforward implementation would apply
                       them: per patient, one ORM query per table, rules.evaluate, then
                       get/create/save per planned draw, alert and state. Run on a fresh
                       state (the engine's draws, alerts and states deleted first). Above
                       --loop-limit patients it runs on an evenly spread sample and the
                       time is extrapolated linearly (marked "extrapolated").

At the largest size (or --serving-at N), after the engine runs and before the loop resets
their output, bench/serving_bench.py measures the same database as the engine left it:
result-to-alert latency with the real worker, the pages, and the API under gunicorn; its
table is printed below the engine's.

Every timed phase runs in a fresh child process, so its peak memory is its own:
"peak MB" is the process's peak resident set (VmHWM) at the end of the phase, Django and
the interpreter included; "+MB" is how much of it the phase itself added. Queries are
counted with a connection.execute_wrapper (savepoints included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from common import (  # bench/ is on sys.path as the script's folder
    connect_as_owner,
    server_url,
    with_database,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("ESR1_BENCH_DB", "esr1watch_bench")  # a dedicated database
SEED = 1

TARGETS = {
    "engine_seconds_100k": 10.0,
    "loop_ratio": 20.0,
    "read_floor_ratio": 3.0,
    "peak_mb": 500.0,
}


# --- Environment: must be settled before django.setup() ------------------------------------


def _configure_environment() -> None:
    server = server_url()
    # Children inherit these; BENCH_SERVER_URL keeps the original server for them.
    os.environ["BENCH_SERVER_URL"] = server
    os.environ["DATABASE_URL"] = with_database(server, BENCH_DB)
    # DEBUG would keep every query in connection.queries: memory and time the product
    # does not spend. Production settings need a key; this one guards nothing.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CONN_MAX_AGE", "0")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _recreate_database() -> None:
    import psycopg

    admin = with_database(server_url(), "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def _drop_database() -> None:
    import psycopg

    admin = with_database(server_url(), "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


# --- Measuring -------------------------------------------------------------------------------


class QueryCounter:
    """Counts statements sent through Django's connection (cheaper than capturing them)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _peak_rss_mb() -> float:
    """This process's peak resident set size. VmHWM belongs to the address space, so a child
    starts afresh; ru_maxrss would carry the parent's peak (the seeding) across fork/exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _backend_cpu_seconds(pids: set[int]) -> float | None:
    """CPU time used so far by these Postgres backends, when they run on this machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return None
    return total / ticks


def _measure(func):
    from django.db import DEFAULT_DB_ALIAS, connection, connections
    from django.db.backends.signals import connection_created

    counter = QueryCounter()
    # Every connection the phase uses (the engine may open one per worker thread) gets the
    # counter, and the CPU time of its Postgres backend is read when it opens and closes.
    cpu_at_start: dict[int, float] = {}
    cpu_at_close: dict[int, float] = {}
    wrapper_class = type(connections[DEFAULT_DB_ALIAS])  # `connection` is only a proxy
    original_close = wrapper_class.close

    def track(sender, connection, **kwargs):
        if counter not in connection.execute_wrappers:
            connection.execute_wrappers.append(counter)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            connection.bench_pid = cursor.fetchone()[0]
        cpu_at_start[connection.bench_pid] = _backend_cpu_seconds({connection.bench_pid}) or 0.0

    def close(self):
        pid = getattr(self, "bench_pid", None)
        if pid in cpu_at_start:
            cpu_at_close[pid] = _backend_cpu_seconds({pid}) or cpu_at_start[pid]
        return original_close(self)

    connection.ensure_connection()
    track(None, connection)
    counter.count = 0
    connection_created.connect(track)
    wrapper_class.close = close
    before = _peak_rss_mb()
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        detail = func()
    finally:
        wrapper_class.close = original_close
        connection_created.disconnect(track)
        if counter in connection.execute_wrappers:
            connection.execute_wrappers.remove(counter)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = _peak_rss_mb()
    db_cpu = 0.0
    for pid, at_start in cpu_at_start.items():
        at_end = cpu_at_close.get(pid)
        if at_end is None:
            at_end = _backend_cpu_seconds({pid})
        if at_end is None:  # not a local server: Postgres CPU is not visible from here
            db_cpu = None
            break
        db_cpu += at_end - at_start
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "db_cpu_seconds": db_cpu,
        "load": max(load_before, os.getloadavg()[0]),
        "queries": counter.count,
        "peak_mb": peak,
        "growth_mb": peak - before,
        "detail": detail,
    }


# --- Phases (each runs in its own child process) -------------------------------------------


def phase_engine(today: date, *, profile: str | None = None) -> dict:
    from surveillance import engine

    def run():
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            stats = profiler.runcall(engine.run_all, today=today)
            profiler.dump_stats(profile)
        else:
            stats = engine.run_all(today=today)
        return stats.as_dict()

    return _measure(run)


def _batches(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def phase_load(today: date) -> dict:
    """rules_input.load_batch for every batch: the engine's read path without rules or
    writes."""
    from surveillance import engine, rules_input
    from surveillance.models import Patient

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))

    # Under the same conditions as inside the engine's batches (e.g. its GC pause).
    paused = getattr(engine, "_gc_paused", contextlib.nullcontext)

    def run():
        patients = 0
        for batch in _batches(ids, engine.BATCH_SIZE):
            with paused():
                patients += len(rules_input.load_batch(batch, today=today).inputs)
        return {"patients": patients}

    return _measure(run)


def phase_read_floor(today: date) -> dict:
    """Replay the exact SELECTs rules_input.load_batch issues (recorded in an untimed pass)
    on a raw psycopg cursor, fetching every row: what reading the inputs costs before any
    Python engine work."""
    from django.db import connection

    from surveillance import engine, rules_input
    from surveillance.models import Patient

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    recorded: list[tuple[str, object]] = []

    def record(execute, sql, params, many, context):
        recorded.append((sql, params))
        return execute(sql, params, many, context)

    for batch in _batches(ids, engine.BATCH_SIZE):
        with connection.execute_wrapper(record):
            rules_input.load_batch(batch, today=today)
    connection.ensure_connection()
    raw = connection.connection

    def run():
        rows = 0
        with raw.cursor() as cursor:
            for sql, params in recorded:
                cursor.execute(sql, params)
                rows += len(cursor.fetchall())
        return {"rows": rows, "selects": len(recorded)}

    result = _measure(run)
    result["queries"] = result["detail"]["selects"]  # raw cursor: not seen by the counter
    return result


def phase_loop(today: date, *, sample: int | None) -> dict:
    """The per-patient ORM loop over all patients, or an evenly spread sample of them."""
    import pghistory
    from django.db import transaction

    from surveillance import engine
    from surveillance.models import Patient

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    if sample and sample < len(ids):
        step = len(ids) / sample
        ids = [ids[int(i * step)] for i in range(sample)]
    policy = engine.current_policy()

    def run():
        stats = {"evaluated": 0, "eligible": 0, "opened": 0, "resolved": 0, "updated": 0}
        # One transaction per engine-sized batch, as the engine does, so the comparison is
        # per-row work against set-based work and not commit (fsync) count.
        for batch in _batches(ids, engine.BATCH_SIZE):
            with transaction.atomic(), pghistory.context(source="bench-orm-loop"):
                for patient_id in batch:
                    _loop_one(patient_id, today=today, policy=policy, stats=stats)
        return stats

    result = _measure(run)
    result["detail"]["sample"] = len(ids)
    return result


def _loop_one(patient_id: int, *, today: date, policy, stats: dict) -> None:
    """SPEC section 5 for one patient, the obvious way: a query per table, a save per row."""
    from surveillance import rules

    patient_in, draws, alerts = _loop_read(patient_id, today=today)
    verdict = rules.evaluate(patient_in, today=today, policy=policy)
    stats["evaluated"] += 1
    stats["eligible"] += verdict.eligible
    _loop_plan(patient_id, verdict, draws)
    _loop_alerts(patient_id, verdict, alerts, policy=policy, stats=stats)
    _loop_state(patient_id, verdict, today=today, policy=policy)


def _loop_read(patient_id: int, *, today: date):
    """The patient's rules input (the product's ORM adapter), its draws and its alerts."""
    from django.db.models import Q

    from patients.models import Appointment, Assessment, Patient, Treatment
    from surveillance.models import ESR1_KINDS, Alert, Draw, Result, Variant
    from surveillance.rules_input import patient_input

    draws = list(Draw.objects.filter(patient_id=patient_id).exclude(status="cancelled"))
    alerts = list(
        Alert.objects.filter(patient_id=patient_id).filter(
            Q(status="open") | Q(kind__in=ESR1_KINDS)
        )
    )
    patient_in = patient_input(
        Patient.objects.get(id=patient_id),
        treatments=Treatment.objects.filter(patient_id=patient_id),
        assessments=Assessment.objects.filter(patient_id=patient_id, response="PD"),
        appointments=Appointment.objects.filter(patient_id=patient_id, date__gte=today),
        draws=draws,
        results=Result.objects.filter(draw__patient_id=patient_id),
        variants=Variant.objects.filter(result__draw__patient_id=patient_id),
        alerts=alerts,
    )
    return patient_in, draws, alerts


def _loop_plan(patient_id: int, verdict, draws) -> None:
    from surveillance.models import Draw

    planned = next((d for d in draws if d.status == "planned"), None)
    if verdict.eligible and verdict.next_due_on is not None:
        if planned is None:
            Draw.objects.create(
                patient_id=patient_id, status="planned", due_date=verdict.next_due_on
            )
        elif planned.due_date != verdict.next_due_on:
            planned.due_date = verdict.next_due_on
            planned.save(update_fields=["due_date", "updated_at"])
    elif planned is not None:
        planned.status = "cancelled"
        planned.cancel_reason = f"No longer eligible: {verdict.reason}"
        planned.save(update_fields=["status", "cancel_reason", "updated_at"])


def _loop_alerts(patient_id: int, verdict, alerts, *, policy, stats: dict) -> None:
    from django.utils import timezone

    from surveillance.models import LOGISTICS_KINDS, Alert

    open_alerts = {(a.kind, a.subject): a for a in alerts if a.status == "open"}
    wanted = {(spec.kind, spec.subject): spec for spec in verdict.alerts}
    for key, spec in wanted.items():
        values = {
            "severity": spec.severity, "title": spec.title, "rationale": spec.rationale,
            "evidence": spec.evidence, "result_ids": sorted(spec.result_ids),
        }  # fmt: skip
        current = open_alerts.get(key)
        if current is None:
            Alert.objects.create(
                patient_id=patient_id, kind=spec.kind, subject=spec.subject,
                policy_version=policy.version, **values,
            )  # fmt: skip
            stats["opened"] += 1
        elif any(getattr(current, f) != value for f, value in values.items()):
            if spec.kind == "esr1_switch":
                values["result_ids"] = sorted(set(values["result_ids"]) | set(current.result_ids))
            if current.evidence != values["evidence"]:
                # Like the engine: a decision must name the evidence it was made on.
                values["evidence_version"] = current.evidence_version + 1
            for f, value in values.items():
                setattr(current, f, value)
            current.save(update_fields=[*values, "updated_at"])
            stats["updated"] += 1
    now = timezone.now()
    for key, current in open_alerts.items():
        if key not in wanted and current.kind in LOGISTICS_KINDS:
            current.status, current.decision, current.resolved_at = "resolved", "auto", now
            current.save(update_fields=["status", "decision", "resolved_at", "updated_at"])
            stats["resolved"] += 1


def _loop_state(patient_id: int, verdict, *, today: date, policy) -> None:
    from django.utils import timezone

    from surveillance.models import SurveillanceState

    SurveillanceState.objects.update_or_create(
        patient_id=patient_id,
        defaults={
            "eligible": verdict.eligible,
            "reason": verdict.reason,
            "risk_level": verdict.risk_level or "",
            "risk_factors": list(verdict.risk_factors),
            "next_draw_due": verdict.next_due_on,
            "surveillance_treatment_id": verdict.surveillance_treatment_id,
            "evaluated_for": today,
            "evaluated_at": timezone.now(),
            "policy_version": policy.version,
        },
    )


PHASES = {
    "engine": lambda today, args: phase_engine(today, profile=args.profile),
    "load": lambda today, args: phase_load(today),
    "read_floor": lambda today, args: phase_read_floor(today),
    "loop": lambda today, args: phase_loop(today, sample=args.sample),
}


def _child_main(args) -> None:
    import django

    django.setup()
    connect_as_owner()  # the phases seed, VACUUM and switch triggers off: the owner's work
    today = date.fromisoformat(args.today)
    result = PHASES[args.phase](today, args)
    print("BENCH-RESULT " + json.dumps(result, default=str))


def _run_child(phase: str, today: date, **extra) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--today", today.isoformat()]
    for key, value in extra.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    sys.stderr.write(proc.stdout + proc.stderr)
    raise SystemExit(f"phase {phase} failed (exit {proc.returncode})")


# --- Orchestration ---------------------------------------------------------------------------


def _prepare_database(patients: int, today: date) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from surveillance.synthetic_cohort import seed_cohort

    connection.close()
    _recreate_database()
    call_command("migrate", verbosity=0)
    print(f"\nseeding {patients:,} patients (seed {SEED}) ...", file=sys.stderr)
    stats = seed_cohort(patients=patients, seed=SEED, today=today, progress=True)
    return {"seconds": stats.seconds, "rows": sum(stats.rows.values())}


def _vacuum_analyze() -> None:
    from django.db import connection

    connection.close()
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM ANALYZE")


def _reset_engine_output() -> None:
    """Back to the state right after seeding: no planned draws, alerts or states."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # Bench data only: skip the history triggers for the reset itself.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM surveillance_alert")
        cursor.execute("DELETE FROM surveillance_draw WHERE status = 'planned'")
        cursor.execute("DELETE FROM surveillance_surveillancestate")
    _vacuum_analyze()


def _bench_size(patients: int, today: date, args) -> tuple[list[dict], dict, str | None]:
    seed = _prepare_database(patients, today)
    print("engine: first run, second run; read floor; ORM loop ...", file=sys.stderr)
    first = _run_child("engine", today, profile=args.profile)
    second = _run_child("engine", today)
    floor = _run_child("read_floor", today)
    load = _run_child("load", today)
    serving = _run_serving(patients) if patients == args.serving_at else None
    _reset_engine_output()
    sample = args.loop_sample if patients > args.loop_limit else None
    loop_first = _run_child("loop", today, sample=sample)
    loop_second = _run_child("loop", today, sample=sample)
    scale = patients / loop_first["detail"]["sample"]
    rows = [
        {"what": "seed_cohort (COPY, audited)", **seed, "queries": None},
        {"what": "engine run_all, first run", **first},
        {"what": "engine run_all, second run", **second},
        {"what": "read floor (load SELECTs, raw)", **floor},
        {"what": "engine read only (load_batch)", **load},
    ]
    for label, loop in (("first", loop_first), ("second", loop_second)):
        n = loop["detail"]["sample"]
        row = {
            "what": f"ORM loop, {label} run",
            "seconds": loop["seconds"] * scale,
            "cpu_seconds": loop["cpu_seconds"] * scale,
            "db_cpu_seconds": (
                None if loop["db_cpu_seconds"] is None else loop["db_cpu_seconds"] * scale
            ),
            "load": loop["load"],
            "queries": round(loop["queries"] * scale),
            "peak_mb": loop["peak_mb"],
            "growth_mb": loop["growth_mb"],
            "note": f"extrapolated from {n:,}" if n < patients else "",
        }
        rows.append(row)
    for row in rows:
        row["patients"] = patients
    ratios = {
        "loop_first": rows[5]["seconds"] / first["seconds"],
        "loop_second": rows[6]["seconds"] / second["seconds"],
        "floor_first": first["seconds"] / floor["seconds"],
        "floor_second": second["seconds"] / floor["seconds"],
    }
    return rows, ratios, serving


def _run_serving(patients: int) -> str:
    """bench/serving_bench.py on this database as the engine left it (planned draws, alerts,
    states): on-commit evaluation with the real worker, pages, API under gunicorn. Its own
    process, so its timings are not those of a process that just seeded 100,000 patients."""
    print(f"serving at {patients:,}: on-commit evaluation, pages, API ...", file=sys.stderr)
    env = dict(os.environ, ESR1_SERVEBENCH_DB=BENCH_DB)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "serving_bench.py"), "--reuse"],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"serving benchmark failed (exit {proc.returncode})")
    return proc.stdout


def _print_table(all_rows, all_ratios, today: date) -> None:
    cpus = os.cpu_count()
    print()
    print(f"ESR1 Watch engine benchmark: seed {SEED}, as of {today}, {cpus} CPUs, "
          f"batch {_batch_size()}")  # fmt: skip
    header = (
        f"{'patients':>9}  {'measurement':<34} {'wall s':>9} {'cpu s':>8} {'db cpu':>7}"
        f" {'queries':>10}"
        f" {'peak MB':>8} {'+MB':>6} {'load':>5}  note"
    )
    rule = "-" * (len(header) + 22)
    print(header)
    print(rule)
    for rows, ratios in zip(all_rows, all_ratios, strict=True):
        for row in rows:
            queries = "" if row.get("queries") is None else f"{row['queries']:,}"
            peak = "" if row.get("peak_mb") is None else f"{row['peak_mb']:.0f}"
            growth = "" if row.get("growth_mb") is None else f"{row['growth_mb']:.0f}"
            cpu = "" if row.get("cpu_seconds") is None else f"{row['cpu_seconds']:.2f}"
            db_cpu = "" if row.get("db_cpu_seconds") is None else f"{row['db_cpu_seconds']:.2f}"
            load = "" if row.get("load") is None else f"{row['load']:.1f}"
            note = row.get("note", "")
            if "rows" in row and row["what"].startswith("seed"):
                note = f"{row['rows']:,} rows"
            print(
                f"{row['patients']:>9,}  {row['what']:<34} {row['seconds']:>9.2f} {cpu:>8} "
                f"{db_cpu:>7} "
                f"{queries:>10} {peak:>8} {growth:>6} {load:>5}  {note}"
            )
        n = rows[0]["patients"]
        print(
            f"{n:>9,}  {'ratio ORM loop / engine':<34} {ratios['loop_first']:>8.1f}x "
            f"(first)  {ratios['loop_second']:.1f}x (second)"
        )
        print(
            f"{n:>9,}  {'ratio engine / read floor':<34} {ratios['floor_first']:>8.1f}x "
            f"(first)  {ratios['floor_second']:.1f}x (second)"
        )
        print(rule)
    print(
        "cpu s: CPU time of the Python process; db cpu: CPU time of its Postgres backends"
        " (/proc); wall s beyond their sum is I/O (commits) and waiting for a busy core.\n"
        "peak MB: the phase's process peak RSS (VmHWM, fresh process per phase); +MB: added by"
        " the phase; load: 1-minute load average around the phase (other work on the machine)."
        "\nqueries: statements through Django's connection (execute_wrapper), "
        "savepoints included; the read floor counts its replayed SELECTs."
    )
    _print_targets(all_rows, all_ratios)


def _print_targets(all_rows, all_ratios) -> None:
    largest = max(range(len(all_rows)), key=lambda i: all_rows[i][0]["patients"])
    rows, ratios = all_rows[largest], all_ratios[largest]
    n = rows[0]["patients"]
    engine_rows = [r for r in rows if r["what"].startswith("engine run_all")]
    worst = max(r["seconds"] for r in engine_rows)
    scaled = worst * 100_000 / n
    peak = max(r["peak_mb"] for r in engine_rows)
    checks = [
        (f"engine run at 100,000 <= {TARGETS['engine_seconds_100k']:.0f} s",
         f"{worst:.1f} s at {n:,}" + ("" if n == 100_000 else f" (~{scaled:.1f} s scaled)"),
         scaled <= TARGETS["engine_seconds_100k"]),
        (f"ORM loop / engine >= {TARGETS['loop_ratio']:.0f}x",
         f"{min(ratios['loop_first'], ratios['loop_second']):.1f}x",
         min(ratios["loop_first"], ratios["loop_second"]) >= TARGETS["loop_ratio"]),
        (f"engine / read floor <= {TARGETS['read_floor_ratio']:.0f}x",
         f"{max(ratios['floor_first'], ratios['floor_second']):.1f}x",
         max(ratios["floor_first"], ratios["floor_second"]) <= TARGETS["read_floor_ratio"]),
        (f"engine peak memory < {TARGETS['peak_mb']:.0f} MB", f"{peak:.0f} MB",
         peak < TARGETS["peak_mb"]),
    ]  # fmt: skip
    print(f"targets, at {n:,} patients:")
    for label, value, met in checks:
        print(f"  {'met   ' if met else 'MISSED'}  {label:<34} {value}")


def _batch_size() -> int:
    from surveillance import engine

    return engine.BATCH_SIZE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, action="append", metavar="N")
    parser.add_argument(
        "--loop-limit", type=int, default=10_000,
        help="run the ORM loop on every patient up to this cohort size",
    )  # fmt: skip
    parser.add_argument(
        "--loop-sample", type=int, default=2_000,
        help="above --loop-limit, time the loop on this many patients",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep esr1watch_bench afterwards")
    parser.add_argument(
        "--serving-at", type=int, metavar="N",
        help="run bench/serving_bench.py on the cohort of this size (default: the largest;"
        " 0: not at all)",
    )  # fmt: skip
    parser.add_argument("--today", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", help="cProfile the first engine run into this file")
    args = parser.parse_args()
    _configure_environment()
    if args.phase:
        _child_main(args)
        return
    if not args.patients:
        parser.error("give at least one --patients N, e.g. --patients 10000")
    if args.serving_at is None:
        args.serving_at = max(args.patients)

    import django

    django.setup()
    connect_as_owner()
    from patients.models import clinic_today

    today = date.fromisoformat(args.today) if args.today else clinic_today()
    all_rows, all_ratios, servings = [], [], []
    try:
        for patients in args.patients:
            rows, ratios, serving = _bench_size(patients, today, args)
            all_rows.append(rows)
            all_ratios.append(ratios)
            servings.append(serving)
    finally:
        from django.db import connection

        connection.close()
        if not args.keep:
            _drop_database()
    _print_table(all_rows, all_ratios, today)
    for serving in filter(None, servings):
        print()
        print(serving.rstrip())


if __name__ == "__main__":
    main()

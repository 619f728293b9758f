"""Programme metrics benchmark: the figures of the last twelve months on a seeded cohort.

    .venv/bin/python bench/metrics_bench.py [--patients 10000] [--runs 20] [--fresh] [--drop]

A script, not a test. It measures a database of its own, $ESR1_METRICSBENCH_DB (default
`esr1_metrics_bench`) on the Postgres server of BENCH_SERVER_URL or DATABASE_URL. When that
database is missing or has no patients (or with --fresh) it is made first: created, migrated,
seeded with the synthetic cohort (`seed_cohort`, seed 1, --patients N), evaluated once by the
engine (planned draws, alerts), given a programme history (below) and VACUUM ANALYZEd. A
database made before (even by hand, `manage.py seed_cohort --patients N` plus a run of the
engine) is measured as it is, with the history added once if it has none.

The programme history is `seed_cohort --history`'s (surveillance/synthetic_cohort/history.py:
due dates on collected draws, a quarter of them late; results saved on their report day and
ESR1 alerts minutes later; seven in ten ESR1 alerts decided, four in ten of those switched),
after which the programme facts are made from scratch.

Measured, each after two unmeasured warm-up runs, --runs times:
  selector   programme.selectors.programme_metrics for the default period (the last twelve
             calendar months up to today): the SQL and the assembly of the answer
  API        GET /api/v1/metrics/ through Django's test Client in this process, signed in as
             an administrator (session and middleware included, JSON rendered), over HTTPS
             as behind the TLS proxy
  page       GET /metrics/ the same way (charts and tables rendered)
p50 and p95 are linear interpolations between ranks. "queries" is the count of statements
Django sent for one call; "CPU ms/call" the CPU time of this process and its Postgres
backend (read from /proc) per call, about the wall time on an idle machine when the data is
in memory, so a busy machine still gives a fair figure. Then each of the figures'
statements five times: its fastest run and the CPU its Postgres backend spent per run, so the
costliest one can be named.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

from common import (  # bench/ is on sys.path as the script's folder
    admin_execute,
    configure_environment,
    connect_as_owner,
    server_url,
    with_database,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "esr1_metrics_bench"
SEED = 1
ADMIN = "metricsbench.admin"
# A clinic would want the page within this; the API at 100,000 patients within 300 ms.
TARGET_P95_MS_100K = 300.0


def _database_name() -> str:
    return os.environ.get("ESR1_METRICSBENCH_DB", DEFAULT_DB)


def _configure_environment() -> None:
    configure_environment(_database_name(), ROOT)


def _admin_execute(sql: str) -> None:
    admin_execute(sql)


def _database_exists() -> bool:
    import psycopg

    with psycopg.connect(with_database(server_url(), "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [_database_name()]
        ).fetchone()
    return row is not None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- Preparing the database --------------------------------------------------------------------


def prepare(patients: int, *, fresh: bool) -> None:
    """Make the bench database if it is missing or empty (or `fresh`), then make sure it has
    a programme history."""
    import django

    name = _database_name()
    if fresh or not _database_exists():
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin_execute(f'CREATE DATABASE "{name}"')
    django.setup()
    connect_as_owner()  # it seeds and VACUUMs its own database
    from django.core.management import call_command
    from django.db import connection

    from patients.models import Patient, clinic_today
    from surveillance import engine
    from surveillance.management.commands.seed_cohort import seed_cohort

    call_command("migrate", verbosity=0)
    if not Patient.objects.exists():
        print(f"seeding {patients:,} patients (seed {SEED}) into {name} ...", file=sys.stderr)
        seed_cohort(patients=patients, seed=SEED, today=clinic_today(), progress=True)
        print("running the engine once ...", file=sys.stderr)
        print(engine.run_all(today=clinic_today()).summary(), file=sys.stderr)
    from surveillance.models import ProgrammeFact
    from surveillance.synthetic_cohort.history import add_programme_history, needs_history

    added = False
    if needs_history():
        print("adding a programme history (due dates, alert times, decisions) ...", file=sys.stderr)
        started = time.perf_counter()
        add_programme_history(today=clinic_today())
        print(f"history added in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        added = True
    elif not ProgrammeFact.objects.exists():
        # A database seeded before the facts existed: make them from scratch.
        print("making the programme facts from scratch ...", file=sys.stderr)
        started = time.perf_counter()
        call_command("rebuild_programme_facts")
        print(f"facts made in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        added = True
    if added:
        connection.close()
        with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
            cursor.execute("VACUUM ANALYZE")


# --- Measuring -----------------------------------------------------------------------------------


class _Counter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _backend_cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by the Postgres backend `pid` (same machine), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(call, runs: int) -> tuple[list[float], int, float | None]:
    """Milliseconds of each of `runs` calls after two warm-ups, the statements of one call,
    and the CPU milliseconds a call costs (this process plus its Postgres backend): about
    what it would take on an idle machine, whatever the other load on this one."""
    from django.db import connection

    for _ in range(2):
        call()
    counter = _Counter()
    with connection.execute_wrapper(counter):
        call()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu_before = (time.process_time(), _backend_cpu_seconds(backend))
    millis = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        millis.append((time.perf_counter() - started) * 1000)
    backend_after = _backend_cpu_seconds(backend)
    cpu = None
    if cpu_before[1] is not None and backend_after is not None:
        used = time.process_time() - cpu_before[0] + backend_after - cpu_before[1]
        cpu = used * 1000 / runs
    return millis, counter.count, cpu


def _admin_client():
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from accounts.roles import Role
    from accounts.services import user_create

    user = User.objects.filter(username=ADMIN).first() or user_create(
        username=ADMIN, role=Role.ADMIN, password=os.urandom(16).hex(), first_name="Bench"
    )
    host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h), "127.0.0.1")
    client = Client(HTTP_HOST=host.lstrip("."))
    client.force_login(user)
    if settings.MFA_REQUIRED:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        device = device or TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def _get(client, url: str):
    def call():
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        return response

    return call


def _each_statement(start, end, today, *, repeat: int = 5) -> list[tuple[str, float, float]]:
    """(statement, fastest wall ms, Postgres CPU ms per run) over `repeat` runs of each."""
    from django.conf import settings
    from django.db import connection

    from programme import queries

    params = queries.parameters(start=start, end=end, today=today, zone=settings.TIME_ZONE)
    timings = []
    statements = (("patients", queries.patients_sql), ("events", queries.events_sql))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
        cursor.execute(queries.settings_sql(local=False))  # as programme_metrics runs them
        for name, sql in statements:
            walls = []
            cpu_before = _backend_cpu_seconds(backend)
            for _ in range(repeat):
                started = time.perf_counter()
                cursor.execute(sql(), params)
                cursor.fetchall()
                walls.append((time.perf_counter() - started) * 1000)
            cpu_after = _backend_cpu_seconds(backend)
            cpu = (cpu_after - cpu_before) * 1000 / repeat if cpu_after is not None else None
            timings.append((name, min(walls), cpu))
    return timings


def measure(runs: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    from patients.models import Patient, clinic_today
    from programme.forms import default_start
    from programme.selectors import programme_metrics
    from surveillance.models import Alert, Draw, Result

    today = clinic_today()
    start = default_start(today)
    load = os.getloadavg()[0]
    sizes = {
        "patients": Patient.objects.count(),
        "draws": Draw.objects.count(),
        "results": Result.objects.count(),
        "esr1 alerts": Alert.objects.filter(
            kind__in=["esr1_switch", "esr1_at_progression"]
        ).count(),
    }
    figures = programme_metrics(start=start, end=today)
    rows = [("selector", *_timed(lambda: programme_metrics(start=start, end=today), runs))]
    client = _admin_client()
    rows.append(("API GET /api/v1/metrics/", *_timed(_get(client, "/api/v1/metrics/"), runs)))
    static_root = ROOT / ".data" / "metricsbench-static"
    with override_settings(STATIC_ROOT=str(static_root)):
        call_command("collectstatic", interactive=False, verbosity=0)
        rows.append(("page GET /metrics/", *_timed(_get(client, "/metrics/"), runs)))
    explained = _each_statement(start, today, today)
    connection.close()
    return {"today": today, "start": start, "sizes": sizes, "figures": figures,
            "rows": rows, "explained": explained, "load": (load, os.getloadavg()[0])}  # fmt: skip


def report(result: dict, runs: int) -> None:
    sizes = ", ".join(f"{n:,} {what}" for what, n in result["sizes"].items())
    f = result["figures"]
    print(f"\nprogramme metrics, {result['start']} to {result['today']} on {sizes}")
    print(
        f"figures: monitored {f['monitored']:,}, draws due {f['draws_due']:,} "
        f"({f['draws_on_time_pct']}% on time), results {f['failed_pct_n']:,} "
        f"(turnaround median {f['turnaround_days_median']} d, p90 {f['turnaround_days_p90']} d),"
        f" ESR1 detections {f['esr1_detected']:,}, decisions "
        f"{f['detection_to_decision_days_median_n']:,}, switched {f['switched']:,}"
    )
    print(
        f"\n{'measurement':<28} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'queries':>7} {'CPU ms/call':>11}"
    )
    for name, millis, queries, cpu in result["rows"]:
        cpu_text = f"{cpu:>11.1f}" if cpu is not None else f"{'n/a':>11}"
        print(
            f"{name:<28} {runs:>5} {statistics.median(millis):>8.1f} "
            f"{percentile(millis, 95):>8.1f} {max(millis):>8.1f} {queries:>7} {cpu_text}"
        )
    print("\neach statement, 5 runs:")
    print(f"  {'statement':<10} {'fastest ms':>10} {'Postgres CPU ms':>16}")
    for name, fastest, cpu in result["explained"]:
        cpu_text = f"{cpu:>16.1f}" if cpu is not None else f"{'n/a':>16}"
        print(f"  {name:<10} {fastest:>10.1f} {cpu_text}")
    selector_p95 = percentile(result["rows"][0][1], 95)
    selector_cpu = result["rows"][0][3]
    total_min = sum(fastest for _, fastest, _ in result["explained"])
    scale = 100_000 / max(result["sizes"]["patients"], 1)
    print(
        f"\nload average {result['load'][0]:.1f} at the start, {result['load'][1]:.1f} at the end "
        f"({os.cpu_count()} cores)"
    )
    cpu_text = f", {selector_cpu * scale:,.0f} ms of CPU" if selector_cpu is not None else ""
    print(
        f"linear in the rows read: at 100,000 patients about {selector_p95 * scale:,.0f} ms "
        f"(selector p95 here x {scale:g}), {total_min * scale:,.0f} ms from the statements' "
        f"fastest runs{cpu_text}; target {TARGET_P95_MS_100K:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000, metavar="N",
                        help="cohort size when the database has to be seeded")  # fmt: skip
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="recreate and reseed the database")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    args = parser.parse_args()
    _configure_environment()
    try:
        prepare(args.patients, fresh=args.fresh)
        result = measure(args.runs)
    finally:
        from django.db import connection

        connection.close()
        if args.drop:
            _admin_execute(f'DROP DATABASE IF EXISTS "{_database_name()}" WITH (FORCE)')
    report(result, args.runs)


if __name__ == "__main__":
    main()

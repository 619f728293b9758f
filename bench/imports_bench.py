"""Laboratory import benchmark: messages per second, and the time from an import to its alert.

    .venv/bin/python bench/imports_bench.py [--patients 100000] [--messages 300] [--keep]
    .venv/bin/python bench/imports_bench.py --reuse      # a database kept before (--keep)

A script, not a test. It recreates its own database ($ESR1_IMPORTBENCH_DB, default
`esr1watch_importbench`, on the Postgres server of BENCH_SERVER_URL or DATABASE_URL), migrates
it, seeds the synthetic cohort (seed_cohort, seed 1), runs the engine once and VACUUM ANALYZEs
it, then measures with the product's own processes: gunicorn with the product's command line
(2 workers x 4 threads), the `hl7_listener` command and a Celery worker (concurrency 2) on a
queue of its own, all running throughout, so every import's re-evaluation competes with the
imports for the machine as it would in a clinic.

  throughput   `--messages` reports per format and sender count, each for a different cohort
               patient (known MRN and birth date, a sample collected today: the pipeline
               matches the patient, records a draw and the result with its variants, and marks
               the patient for evaluation), posted by 1 and by 4 concurrent senders, each
               sender one keep-alive connection sending the next message when the answer to
               the last has come: FHIR bundles and HL7 v2 messages to /api/v1/imports/, and HL7
               v2 over MLLP to the listener (next message after the ACK). messages/s = messages
               / wall time from the first send to the last answer; every answer must be 201 /
               AA, anything else counts as an error.
  alert        For `--alerts` eligible patients without an ESR1 finding, one at a time: a FHIR
               bundle with ESR1 D538G posted to /api/v1/imports/fhir/; t0 just before the
               request is sent, t1 when a separate connection, polling every 10 ms, first
               sees the patient's open esr1_switch alert (raised by the worker from the task
               the import enqueued on commit; beat is not running).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from common import admin_execute, configure_environment  # bench/ is on sys.path
from serving_bench import (
    _child_env,
    _default_queue,
    _eligible_without_esr1,
    _free_port,
    _prepare_database,
    _stop_and_tidy,
    celery_worker,
    gunicorn_server,
    percentile,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "esr1watch_importbench"
TARGETS = {"messages_per_s": 50.0, "alert_p95_ms": 2000.0}
LAB = "importbench-lab"
POLL_SECONDS = 0.010
ALERT_TIMEOUT_SECONDS = 30.0

sys.path.insert(0, str(ROOT))


# --- Messages ------------------------------------------------------------------------------------


def fhir_bundle(p: dict, *, n: int, collected: date, reported: date, variants) -> str:
    from tests.imports.fhir import bundle

    return bundle(
        report_id=f"IB-F-{n}",
        mrn=p["mrn"],
        birth_date=p["birth_date"],
        accession=f"IBF{n:08d}",
        collected_on=collected,
        reported_on=reported,
        variants=variants,
    )


def hl7_message(p: dict, *, n: int, collected: date, reported: date, prefix: str) -> str:
    from tests.imports.hl7 import oru

    return oru(
        control_id=f"{prefix}{n}",
        mrn=p["mrn"],
        birth_date=p["birth_date"],
        accession=f"{prefix}{n:08d}",
        collected_on=collected,
        reported_on=reported,
        variants=(("PIK3CA", "p.His1047Arg", "3.1"), ("TP53", "p.Arg273His", "1.2")),
    )


FHIR_VARIANTS = (("PIK3CA", "p.His1047Arg", "3.1"), ("TP53", "p.Arg273His", "1.2"))
D538G = (("ESR1", "NP_000116.2:p.Asp538Gly", "0.6"),)


def _patients(count: int, *, exclude: set[int], today: date) -> list[dict]:
    """Active patients, none with a draw collected `today` already (an earlier run's on a
    kept database: a second report for that sample would be held, not imported)."""
    from patients.models import Patient
    from surveillance.models import Draw

    rows = (
        Patient.objects.filter(status="active")
        .exclude(id__in=exclude)
        .exclude(id__in=Draw.objects.filter(collected_on=today).values("patient_id"))
        .order_by("id")
        .values("id", "mrn", "birth_date")[:count]
    )
    return list(rows)


# --- Senders -------------------------------------------------------------------------------------


def _send_http(port: int, token: str, path: str, bodies: list[str], results: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/octet-stream"}
    for body in bodies:
        started = time.perf_counter()
        try:
            conn.request("POST", path, body.encode(), headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 201
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        results.append((ok, time.perf_counter() - started))
    conn.close()


def _send_mllp(port: int, bodies: list[str], results: list) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for body in bodies:
            started = time.perf_counter()
            sock.sendall(b"\x0b" + body.encode() + b"\x1c\x0d")
            ack = b""
            while not ack.endswith(b"\x1c\x0d"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                ack += chunk
            results.append((b"MSA|AA|" in ack, time.perf_counter() - started))


def _run_senders(target, batches: list[list[str]]) -> dict:
    results: list = []
    threads = [threading.Thread(target=target, args=(b, results)) for b in batches]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    seconds = [s * 1000 for _, s in results]
    return {
        "messages": len(results),
        "errors": sum(1 for ok, _ in results if not ok),
        "seconds": wall,
        "per_s": len(results) / wall if wall else None,
        "p50_ms": percentile(seconds, 50),
        "p95_ms": percentile(seconds, 95),
    }


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


@contextmanager
def hl7_listener():
    port = _free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
        prefix="importbench-hl7-", suffix=".log", delete=False
    )
    proc = None
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "hl7_listener",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--account",
                LAB,
            ],
            cwd=ROOT,
            env=_child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"hl7_listener did not start; see {log.name}") from None
                time.sleep(0.2)
        yield port
    finally:
        _stop_and_tidy(proc, log)


# --- CPU by component ----------------------------------------------------------------------------
#
# Wall time on a shared machine says little; the CPU each part spends per message says where a
# message's cost goes: the web (gunicorn) or the listener, the worker's evaluations, Postgres
# (the backends connected to the bench database; on this host only) and the senders (this
# process).

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _descendants() -> dict[int, str]:
    """This process's descendants: pid -> command line."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                commands[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    mine, frontier = {}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in mine:
                mine[pid] = commands.get(pid, "")
                frontier.append(pid)
    return mine


def _component(command: str) -> str | None:
    if "gunicorn" in command:
        return "web"
    if "hl7_listener" in command:
        return "listener"
    if "celery" in command:
        return "worker"
    return None


def _postgres_backends(watcher) -> list[int]:
    rows = watcher.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    return [pid for (pid,) in rows]


def cpu_sample(watcher) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each process, by component."""
    sample: dict[str, dict[int, float]] = {"senders": {os.getpid(): _cpu_seconds(os.getpid())}}
    for pid, command in _descendants().items():
        name = _component(command)
        if name:
            sample.setdefault(name, {})[pid] = _cpu_seconds(pid)
    if watcher is not None:
        sample["postgres"] = {pid: _cpu_seconds(pid) for pid in _postgres_backends(watcher)}
    return sample


def cpu_per_message(before: dict, after: dict, messages: int) -> dict[str, float]:
    """CPU milliseconds per message by component (a process new since `before` counts from 0;
    the worker keeps evaluating after the last answer, so take `after` once it is idle)."""
    spent = {}
    for name, pids in after.items():
        start = before.get(name, {})
        spent[name] = sum(max(0.0, t - start.get(pid, 0.0)) for pid, t in pids.items())
    return {name: 1000 * seconds / messages for name, seconds in spent.items() if messages}


def _wait_until_evaluated(watcher, timeout: float = 120.0) -> None:
    """Until the outbox is empty: every import's evaluation done (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not watcher.execute("SELECT 1 FROM patients_pendingevaluation LIMIT 1").fetchone():
            return
        time.sleep(0.1)


# --- Measurements --------------------------------------------------------------------------------


def measure(today: date, *, messages: int, alerts: int) -> dict:
    import psycopg
    from django.db import connection

    from accounts import tokens
    from accounts.models import ApiToken, User
    from accounts.roles import Role
    from accounts.services import user_create

    lab = User.objects.filter(username=LAB).first() or user_create(
        username=LAB, role=Role.INTERFACE, password=None
    )
    _, token = tokens.token_issue(user=lab, actor=None, source=ApiToken.Source.COMMAND)
    alert_ids = _eligible_without_esr1(alerts, today=today)
    used = set(alert_ids)
    scenarios = [
        ("FHIR over HTTP", "fhir"),
        ("HL7 v2 over HTTP", "hl7"),
        ("HL7 v2 over MLLP", "mllp"),
    ]
    plan = []
    # Report ids and accessions of their own in each run, so a kept database can be measured
    # again (the same report id would be a duplicate, the same accession a clash).
    n = int(time.time()) % 10_000_000 * 10_000
    for name, kind in scenarios:
        for senders in (1, 4):
            chosen = _patients(messages, exclude=used, today=today)
            used |= {p["id"] for p in chosen}
            bodies = []
            for p in chosen:
                n += 1
                if kind == "fhir":
                    bodies.append(
                        fhir_bundle(p, n=n, collected=today, reported=today, variants=FHIR_VARIANTS)
                    )
                else:
                    bodies.append(
                        hl7_message(
                            p,
                            n=n,
                            collected=today,
                            reported=today,
                            prefix="IBH" if kind == "hl7" else "IBM",
                        )
                    )
            plan.append((name, kind, senders, bodies))
    connection.close()

    queue = f"importbench-{uuid.uuid4().hex[:8]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue  # the children send to the bench's queue
    rows, alert_ms, timeouts, not_imported = [], [], 0, []
    with (
        _default_queue(queue),
        celery_worker(queue),
        gunicorn_server() as web,
        hl7_listener() as mllp,
    ):
        cpu_watcher = psycopg.connect(autocommit=True, **_connection_kwargs())
        for name, kind, senders, bodies in plan:
            load = os.getloadavg()[0]
            if kind == "mllp":
                target = lambda b, r: _send_mllp(mllp, b, r)  # noqa: E731
            else:
                path = "/api/v1/imports/fhir/" if kind == "fhir" else "/api/v1/imports/hl7v2/"
                target = lambda b, r, p=path: _send_http(web, token, p, b, r)  # noqa: E731
            _wait_until_evaluated(cpu_watcher)
            before = cpu_sample(cpu_watcher)
            got = _run_senders(target, _split(bodies, senders))
            load = max(load, os.getloadavg()[0])
            _wait_until_evaluated(cpu_watcher)
            cpu = cpu_per_message(before, cpu_sample(cpu_watcher), got["messages"])
            rows.append({"name": name, "senders": senders, **got, "load": load, "cpu_ms": cpu})
            print(
                f"  {name}, {senders} sender(s): {got['per_s']:.1f} msg/s; CPU ms/message "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items())),
                file=sys.stderr,
            )
        cpu_watcher.close()

        from patients.models import Patient

        patients = {
            p["id"]: p
            for p in Patient.objects.filter(id__in=alert_ids).values("id", "mrn", "birth_date")
        }
        connection.close()
        conn = http.client.HTTPConnection("127.0.0.1", web, timeout=60)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/fhir+json"}
        db = _connection_kwargs()
        with psycopg.connect(autocommit=True, **db) as watcher:
            for pid in alert_ids:
                n += 1
                body = fhir_bundle(
                    patients[pid], n=n, collected=today, reported=today, variants=D538G
                )
                conn.close()  # a new connection each time: the last one idled past keep-alive
                conn = http.client.HTTPConnection("127.0.0.1", web, timeout=60)
                t0 = time.perf_counter()
                conn.request("POST", "/api/v1/imports/fhir/", body.encode(), headers)
                response = conn.getresponse()
                response.read()
                if response.status != 201:
                    not_imported.append(response.status)
                    continue
                while True:
                    seen = watcher.execute(
                        "SELECT 1 FROM surveillance_alert WHERE patient_id = %s "
                        "AND kind = 'esr1_switch' AND status = 'open'",
                        (pid,),
                    ).fetchone()
                    now = time.perf_counter()
                    if seen:
                        alert_ms.append((now - t0) * 1000)
                        break
                    if now - t0 > ALERT_TIMEOUT_SECONDS:
                        timeouts += 1
                        break
                    time.sleep(POLL_SECONDS)
        conn.close()
    return {
        "throughput": rows,
        "alert": {
            "n": len(alert_ms),
            "timeouts": timeouts,
            "not_imported": not_imported,
            "p50_ms": percentile(alert_ms, 50),
            "p95_ms": percentile(alert_ms, 95),
            "max_ms": max(alert_ms) if alert_ms else None,
        },
    }


def _connection_kwargs() -> dict:
    from django.db import connection

    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}


def print_table(results: dict, *, patients: int) -> None:
    print(f"\nLaboratory imports at {patients:,} patients (load average {os.getloadavg()[0]:.1f})")
    print(
        f"{'channel':<20} {'senders':>7} {'messages':>8} {'errors':>6} {'msg/s':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'load':>5}"
    )
    for r in results["throughput"]:
        print(
            f"{r['name']:<20} {r['senders']:>7} {r['messages']:>8} {r['errors']:>6} "
            f"{r['per_s']:>7.1f} {r['p50_ms']:>7.0f} {r['p95_ms']:>7.0f} {r['load']:>5.1f}"
        )
    a = results["alert"]
    if a["n"]:
        print(
            f"\nimport -> ESR1 alert visible ({a['n']} FHIR reports, real worker): "
            f"p50 {a['p50_ms']:.0f} ms, p95 {a['p95_ms']:.0f} ms, max {a['max_ms']:.0f} ms, "
            f"{a['timeouts']} not seen within {ALERT_TIMEOUT_SECONDS:.0f} s, "
            f"{len(a['not_imported'])} not imported (HTTP {a['not_imported']})"
        )
    print("\nCPU per message, ms (web or listener, worker, Postgres, senders):")
    for r in results["throughput"]:
        cpu = r["cpu_ms"]
        front = cpu.get("listener" if r["name"].endswith("MLLP") else "web", 0.0)
        total = front + cpu.get("worker", 0.0) + cpu.get("postgres", 0.0)
        print(
            f"{r['name']:<20} {r['senders']:>7} {front:>7.1f} {cpu.get('worker', 0.0):>7.1f} "
            f"{cpu.get('postgres', 0.0):>7.1f} {cpu.get('senders', 0.0):>7.1f}   "
            f"app+worker+db {total:.1f} ms: at most {2000 / total if total else 0:.0f} msg/s "
            "on 2 idle cores"
        )
    worst = min((r["per_s"] for r in results["throughput"]), default=0)
    print(
        f"targets: >= {TARGETS['messages_per_s']:.0f} msg/s (lowest measured {worst:.1f}), "
        f"alert p95 < {TARGETS['alert_p95_ms']:.0f} ms"
    )


def _database_name() -> str:
    return os.environ.get("ESR1_IMPORTBENCH_DB", DEFAULT_DB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000, metavar="N")
    parser.add_argument("--messages", type=int, default=300, help="per format and sender count")
    parser.add_argument("--alerts", type=int, default=40, help="imports timed to their alert")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept before")
    args = parser.parse_args()
    os.environ["ESR1_SERVEBENCH_DB"] = _database_name()  # _prepare_database's name
    configure_environment(_database_name(), ROOT)
    # Plain HTTP on loopback, as from a proxy on the same host (children inherit it).
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import django

    django.setup()
    from django.db import connection

    from patients.models import clinic_today

    today = clinic_today()
    try:
        if not args.reuse:
            _prepare_database(args.patients, today)
        results = measure(today, messages=args.messages, alerts=args.alerts)
    finally:
        connection.close()
        if not args.keep and not args.reuse:
            admin_execute(f'DROP DATABASE IF EXISTS "{_database_name()}" WITH (FORCE)')
    print_table(results, patients=args.patients)
    print(json.dumps(results, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()

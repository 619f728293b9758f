"""Serving benchmark: what a clinic feels at 100,000 patients, next to the engine figures.

    .venv/bin/python bench/serving_bench.py [--patients 100000] [--keep]
    .venv/bin/python bench/serving_bench.py --reuse [--only pages]   # a database kept before

A script, not a test. Standalone it recreates its own database ($ESR1_SERVEBENCH_DB, default
`esr1watch_servebench`, on the Postgres server of BENCH_SERVER_URL or DATABASE_URL), migrates
it, seeds the synthetic cohort (seed_cohort, seed 1), runs the engine once so planned draws,
alerts and states exist (no VACUUM or ANALYZE of its own: the data as a user has it) and
measures the things below. The engine
benchmark (bench/engine_bench.py) calls the same functions on its own seeded database:
each of them expects DATABASE_URL to point at a seeded, evaluated database and django.setup()
to have run, and the processes they start inherit the environment.

  on-commit evaluation   For n eligible patients (first-line AI + CDK4/6, no ESR1 finding
                         yet), one at a time: a nurse records an ESR1 D538G result through
                         surveillance.services.result_record on a draw collected today
                         (collected through services.draw_record beforehand, untimed). t0 is
                         taken in the first on-commit callback of the result's transaction,
                         i.e. right after COMMIT; t1 when a separate connection, polling every
                         10 ms, first sees the patient's open `esr1_switch` alert. The alert is
                         raised by the product's worker command (`celery -A config worker
                         --concurrency 2`) running as a subprocess on a queue of its own
                         (CELERY_TASK_DEFAULT_QUEUE, the product's setting), fed by the task
                         the write enqueues on commit; beat is not running, so the minute sweep
                         cannot be what raises it. Resolution: the 10 ms poll interval.
  pages                  The server-rendered pages through Django's test Client in this
                         process (force_login; with MFA_REQUIRED the session is marked as
                         having passed two-step sign-in, as after a real sign-in), over HTTPS
                         as behind the TLS proxy, on a persistent database connection (the
                         product's CONN_MAX_AGE). "server time" is the wall time of
                         Client.get: middleware, view, queries, template, session save.
                         cpu ms: the CPU time of this process per request (time.process_time,
                         mean), i.e. the Python side; pg ms: the CPU time of the Postgres
                         backend serving the connection (/proc/<pid>/stat, mean; blank when
                         the server runs elsewhere), counted in clock ticks (10 ms on
                         Linux), so only a mean over many requests says much.
                         queries: statements sent through Django's connection per request
                         (execute_wrapper; the session update and the record-access row
                         included), as the min-max over the measured requests.
  API throughput         gunicorn started with the product's command line (config/devserver.py:
                         2 workers x 4 threads, gunicorn.conf.py) on a free loopback port,
                         loaded by a separate Python process (threads, one keep-alive
                         http.client connection each) for a fixed time after a warm-up, with
                         a DRF token, behind an X-Forwarded-Proto: https header as the proxy
                         sends. Reported: requests/s, latency p50/p95/max, errors (any answer
                         but 200, or a broken connection). The machine has few cores and the
                         load generator shares them with gunicorn and Postgres: its own CPU
                         use is printed with each row ("loadgen cpu", share of one core).

Users: the worklist belongs to cohort oncologist cohort.onc001 (its caseload is printed);
a nurse `servebench.nurse` and an administrator `servebench.admin` are created in the bench
database when missing. Nothing is written outside that database except temporary files
(collected static files for the page renders, the worker's and gunicorn's logs) and the
worker's queue on the broker (REDIS_URL), which is deleted afterwards. The measurements leave
their traces in the bench database: 40 draws with results and alerts, the bench users and
their sessions, tokens and authenticator, and the record-access log of the page views.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from datetime import date, timedelta
from pathlib import Path

from common import (  # bench/ is on sys.path as the script's folder
    admin_execute,
    configure_environment,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "esr1watch_servebench"
SEED = 1

ONCOLOGIST = "cohort.onc001"
NURSE = "servebench.nurse"
ADMIN = "servebench.admin"
# Bench users only ever exist in the bench database.
BENCH_PASSWORD = "servebench-" + uuid.uuid4().hex

TARGETS = {"on_commit_p95_ms": 2000.0, "page_p95_ms": 150.0, "scale_p95_ms": 60.0}
# The pages that must stay fast however large the clinic grows: the nurses' worklist, search
# and deep pages of a filtered patient list.
SCALE_PAGES = (
    "worklist / (nurse)",
    "patient list ?search",
    "patient list ?eligible&risk=high deep",
)
# The pages with a target of their own: the worklists and the patient page.
TARGET_PAGES = ("worklist", "patient page")

# config/settings.py's default: web processes keep their database connection for a minute.
PRODUCT_CONN_MAX_AGE = 60
POLL_SECONDS = 0.010
D538G = {"gene": "ESR1", "protein_change": "D538G", "vaf_percent": "0.6"}
ALERT_TIMEOUT_SECONDS = 30.0


# --- Small helpers -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _summary(name: str, millis: list[float], **extra) -> dict:
    return {
        "name": name,
        "n": len(millis),
        "p50_ms": percentile(millis, 50),
        "p95_ms": percentile(millis, 95),
        "max_ms": max(millis) if millis else None,
        **extra,
    }


def _child_env() -> dict:
    """The environment for the worker and gunicorn: this process's (DATABASE_URL, DEBUG,
    SECRET_KEY, REDIS_URL ...), except that they keep the product's persistent database
    connections (the bench phases themselves may run with CONN_MAX_AGE=0)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("CONN_MAX_AGE", None)
    return env


def _stop_and_tidy(proc: subprocess.Popen | None, log) -> None:
    """Stop a child and close its log; the log is kept only when the child ended badly."""
    _stop(proc)
    log.close()
    if proc is not None and proc.returncode in (0, -signal.SIGTERM):
        os.unlink(log.name)


def _stop(proc: subprocess.Popen | None, *, grace: float = 15.0) -> None:
    """Stop a child started in its own session (process group), and everything it forked."""
    if proc is None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Whatever of the group outlived its leader (a pool process of a worker that crashed).
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _bench_user(username: str, role: str):
    from accounts.models import User
    from accounts.services import user_create

    user = User.objects.filter(username=username).first()
    if user is None:
        user = user_create(username=username, role=role, password=BENCH_PASSWORD,
                           first_name="Bench", last_name=role.title())  # fmt: skip
    return user


def _oncologist():
    from accounts.models import User

    return User.objects.get(username=ONCOLOGIST)


# --- 2. On-commit evaluation ---------------------------------------------------------------------


def _eligible_without_esr1(count: int, *, today: date) -> list[int]:
    """Eligible patients with no ESR1 variant on any result and no ESR1 alert, spread evenly
    over the cohort; none with a draw collected `today` already (the cohort's, or an earlier
    run's on a kept database): a second draw of the same day and assay is refused (409)."""
    from surveillance.models import ESR1_KINDS, Draw, SurveillanceState, Variant

    ids = list(
        SurveillanceState.objects.filter(eligible=True, patient__status="active")
        .exclude(patient__alerts__kind__in=list(ESR1_KINDS))
        .exclude(patient_id__in=Draw.objects.filter(collected_on=today).values("patient_id"))
        .exclude(
            patient_id__in=Variant.objects.filter(gene="ESR1").values("result__draw__patient_id")
        )
        .order_by("patient_id")
        .values_list("patient_id", flat=True)
    )
    if len(ids) <= count:
        return ids
    step = len(ids) / count
    return [ids[int(i * step)] for i in range(count)]


@contextmanager
def celery_worker(queue: str, *, concurrency: int = 2):
    """The product's worker command as a subprocess on `queue`; stopped on exit."""
    from config.celery import app

    hostname = f"servebench-{os.getpid()}@{socket.gethostname()}"
    env = dict(_child_env(), CELERY_TASK_DEFAULT_QUEUE=queue)
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
        prefix="servebench-worker-", suffix=".log", delete=False
    )
    proc = None
    try:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "--loglevel", "info", "--concurrency", str(concurrency),
                "--queues", queue, "--hostname", hostname,
                "--without-gossip", "--without-mingle",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the celery worker did not start; see {log.name}")
        yield proc
    finally:
        _stop_and_tidy(proc, log)
        with suppress(Exception):  # best effort: the broker keeps nothing of the bench
            _delete_queue(queue)


def _delete_queue(queue: str) -> None:
    """Remove the bench's queue and its bindings from the broker."""
    from kombu import Exchange, Queue

    from config.celery import app

    with app.connection_for_write() as conn:
        bound = Queue(queue, Exchange(queue), routing_key=queue)(conn.default_channel)
        bound.declare()  # a channel deletes only the bindings it knows of
        bound.delete()


@contextmanager
def _default_queue(queue: str):
    """Send this process's tasks to `queue` (what CELERY_TASK_DEFAULT_QUEUE does at start-up)."""
    from config.celery import app

    before = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield
    finally:
        app.conf.task_default_queue = before


def _wait_evaluated(patient_ids: list[int], timeout: float = 120.0) -> None:
    from patients.models import PendingEvaluation

    deadline = time.monotonic() + timeout
    while PendingEvaluation.objects.filter(patient_id__in=patient_ids).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not evaluate the prepared patients in time")
        time.sleep(0.1)


def measure_on_commit(today: date, *, patients: int = 40) -> dict:
    """Result saved -> open esr1_switch alert visible, with the real worker (see the top)."""
    import psycopg
    from django.db import connection, transaction

    from accounts.roles import Role
    from patients.models import Patient, clinic_today
    from surveillance import services

    today = min(today, clinic_today())  # the services refuse dates in the future
    nurse = _bench_user(NURSE, Role.NURSE)
    chosen = _eligible_without_esr1(patients, today=today)
    if not chosen:
        raise RuntimeError("no eligible patient without an ESR1 finding to measure")
    queue = f"servebench-{uuid.uuid4().hex[:8]}"
    millis: list[float] = []
    timeouts = 0
    connect = _connection_kwargs()
    load = os.getloadavg()[0]
    with _default_queue(queue), celery_worker(queue) as worker:
        # Untimed: a collected draw for each patient, and its own evaluation finished.
        draws = {}
        for patient in Patient.objects.filter(id__in=chosen).order_by("id"):
            draws[patient.id] = services.draw_record(
                actor=nurse, patient=patient, collected_on=today, assay="guardant360_cdx"
            )
        _wait_evaluated(chosen)
        with psycopg.connect(autocommit=True, **connect) as watcher:
            for patient_id in chosen:
                marks: dict[str, float] = {}
                with transaction.atomic():
                    # Registered first, so it runs first once COMMIT has returned.
                    transaction.on_commit(lambda m=marks: m.setdefault("t0", time.perf_counter()))
                    services.result_record(
                        actor=nurse, draw=draws[patient_id], reported_on=today, status="final",
                        variants=[D538G],
                    )  # fmt: skip
                t0 = marks["t0"]
                while True:
                    seen = watcher.execute(
                        "SELECT 1 FROM surveillance_alert WHERE patient_id = %s "
                        "AND kind = 'esr1_switch' AND status = 'open'",
                        (patient_id,),
                    ).fetchone()
                    now = time.perf_counter()
                    if seen:
                        millis.append((now - t0) * 1000)
                        break
                    if now - t0 > ALERT_TIMEOUT_SECONDS:
                        timeouts += 1
                        break
                    if worker.poll() is not None:
                        raise RuntimeError("the celery worker exited during the measurement")
                    time.sleep(POLL_SECONDS)
    connection.close()
    return _summary(
        "on-commit: result saved -> esr1_switch alert",
        millis,
        timeouts=timeouts,
        load=max(load, os.getloadavg()[0]),
        note=f"real worker (prefork, concurrency 2), queue {queue}, poll 10 ms",
    )


def _connection_kwargs() -> dict:
    """psycopg.connect() arguments for the database Django uses."""
    from django.db import connection

    params = connection.get_connection_params()
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    return params


# --- 3. Pages ------------------------------------------------------------------------------------


class _QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def _collected_static():
    """Production storage renders {% static %} from a manifest; build one in a temp dir."""
    from django.core.management import call_command
    from django.test.utils import override_settings

    root = tempfile.mkdtemp(prefix="servebench-static-")
    try:
        with override_settings(STATIC_ROOT=root):
            call_command("collectstatic", interactive=False, verbosity=0)
            yield
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _persistent_connection():
    """Keep one connection across requests, as the product's CONN_MAX_AGE does."""
    from django.db import connection

    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = PRODUCT_CONN_MAX_AGE
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = before


def _host() -> str:
    from django.conf import settings

    for host in settings.ALLOWED_HOSTS:
        if host and "*" not in host and not host.startswith("."):
            return host
    return "127.0.0.1"


def _client_for(user):
    """A signed-in test Client; with MFA_REQUIRED, the session has passed the code step."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client(HTTP_HOST=_host())
    client.force_login(user)
    if settings.MFA_REQUIRED:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def _backend_cpu() -> tuple[int | None, float | None]:
    """(pid, CPU seconds so far) of the Postgres backend serving Django's connection, when
    that backend runs on this machine and its /proc entry can be read; else (pid, None)."""
    from django.db import connection

    raw = connection.connection
    pid = raw.info.backend_pid if raw is not None and not raw.closed else None
    if pid is None:
        return None, None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return pid, None
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time_get(client, url: str, counter: _QueryCounter) -> dict:
    """Server time (ms), CPU time of this process and of the Postgres backend (ms; None
    when not measurable), queries and response size of one GET."""
    counter.count = 0
    pid, backend_before = _backend_cpu()
    cpu_started = time.process_time()
    started = time.perf_counter()
    response = client.get(url, secure=True)
    elapsed = (time.perf_counter() - started) * 1000
    cpu = (time.process_time() - cpu_started) * 1000
    pid_after, backend_after = _backend_cpu()
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    backend = None
    if pid == pid_after and None not in (backend_before, backend_after):
        backend = (backend_after - backend_before) * 1000
    return {"ms": elapsed, "cpu_ms": cpu, "pg_cpu_ms": backend, "queries": counter.count,
            "size": len(response.content)}  # fmt: skip


def _page_row(name, client, urls, counter, *, repeat: int, note: str = "",
              budget: float = 20.0) -> dict:  # fmt: skip
    """GET each url `repeat` times after one untimed request of each (templates, plans and
    caches warm), or fewer when a page is so slow that `budget` seconds run out (3 at least)."""
    for url in urls[:3]:
        _time_get(client, url, counter)
    gets = []
    load = os.getloadavg()[0]
    started = time.monotonic()
    for _ in range(repeat):
        for url in urls:
            gets.append(_time_get(client, url, counter))
        if len(gets) >= 3 and time.monotonic() - started > budget:
            break
    kilobytes = max(get["size"] for get in gets) / 1024
    queries = [get["queries"] for get in gets]
    backend = [get["pg_cpu_ms"] for get in gets if get["pg_cpu_ms"] is not None]
    return _summary(
        name, [get["ms"] for get in gets], queries_min=min(queries), queries_max=max(queries),
        cpu_ms=sum(get["cpu_ms"] for get in gets) / len(gets),
        pg_cpu_ms=sum(backend) / len(backend) if backend else None,
        load=max(load, os.getloadavg()[0]),
        note=", ".join(filter(None, [note, f"{kilobytes:,.0f} kB"])),
    )  # fmt: skip


def _page_scenarios() -> dict:
    """What the page measurements need to know about the data."""
    from django.db.models import Count

    from patients.models import Patient, clinic_today
    from surveillance.models import LOGISTICS_KINDS, Alert, Draw

    onc = _oncologist()
    patients = Patient.objects.count()
    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    spread = [ids[int(i * len(ids) / 200)] for i in range(min(200, len(ids)))]
    most_draws = list(
        Draw.objects.values("patient_id")
        .annotate(n=Count("id"))
        .order_by("-n", "patient_id")
        .values_list("patient_id", "n")[:20]
    )
    from chart.views import PATIENT_ORDER
    from config.pagination import encode_cursor

    filtered = Patient.objects.filter(
        surveillance_state__eligible=True, surveillance_state__risk_level="high"
    ).order_by(*PATIENT_ORDER)
    n_filtered = filtered.count()
    deep_keys = [
        encode_cursor(filtered.values_list(*PATIENT_ORDER)[max(0, int(n_filtered * q) - 1)])
        for q in (0.5, 1.0 - 26 / max(n_filtered, 26))
    ] if n_filtered else []  # fmt: skip
    name = Patient.objects.order_by("id").values_list("family_name", flat=True).first()
    mrn = Patient.objects.order_by("-id").values_list("mrn", flat=True).first()
    return {
        "patients": patients,
        "oncologist": onc,
        "caseload": Patient.objects.filter(oncologist=onc).count(),
        "onc_open_alerts": Alert.objects.filter(patient__oncologist=onc, status="open").count(),
        "logistics_open": Alert.objects.filter(status="open", kind__in=LOGISTICS_KINDS).count(),
        "nurse_draws": Draw.objects.filter(
            status="planned", due_date__lte=clinic_today() + timedelta(days=7)
        ).count()
        + Draw.objects.filter(status="collected").count(),
        "spread": spread,
        "most_draws": most_draws,
        "name": name,
        "mrn": mrn,
        "filtered": n_filtered,
        "deep_keys": deep_keys,
    }


def measure_pages(today: date, *, repeat: int = 30) -> list[dict]:
    """Server time and query count of the worklists, the patient list and the patient page."""
    from django.db import connection

    from accounts.roles import Role

    nurse = _bench_user(NURSE, Role.NURSE)
    admin = _bench_user(ADMIN, Role.ADMIN)
    facts = _page_scenarios()
    onc = facts["oncologist"]
    per_page = 25  # chart.views.patient_index
    last_page = max(1, math.ceil(facts["patients"] / per_page))
    counter = _QueryCounter()
    rows = []
    deep = [f"/patients/?page={last_page // 2}", f"/patients/?page={last_page}"]
    spread = [f"/patients/{pid}/" for pid in facts["spread"]]
    heavy = [f"/patients/{pid}/" for pid, _ in facts["most_draws"]]
    most = facts["most_draws"][0][1] if facts["most_draws"] else 0
    # (name, who, urls, repetitions of the url list, note)
    scenarios = [
        ("worklist / (oncologist)", onc, ["/"], repeat,
         f"{onc.username}: caseload {facts['caseload']:,}, "
         f"{facts['onc_open_alerts']:,} open alerts"),
        ("worklist / (nurse)", nurse, ["/"], repeat,
         f"clinic-wide: {facts['logistics_open']:,} open draw alerts, "
         f"{facts['nurse_draws']:,} draws due in 7 days or awaiting results"),
        ("patient list (nurse, all)", nurse, ["/patients/"], repeat,
         f"{facts['patients']:,} patients, 25 a page"),
        ("patient list (oncologist, all)", onc, ["/patients/"], repeat, ""),
        ("patient list ?oncologist=self", onc, [f"/patients/?oncologist={onc.username}"],
         repeat, ""),
        ("patient list ?search=name", onc, [f"/patients/?search={facts['name']}"], repeat,
         f"family name {facts['name']}"),
        ("patient list ?search=MRN", onc, [f"/patients/?search={facts['mrn']}"], repeat, ""),
        ("patient list ?eligible&risk=high", onc, ["/patients/?eligible=yes&risk=high"],
         repeat, ""),
        ("patient list ?open_alerts=yes", onc, ["/patients/?open_alerts=yes"], repeat, ""),
        ("patient list deep page", onc, deep, max(1, repeat // 2),
         f"pages {last_page // 2:,} and {last_page:,}"),
        ("patient list ?eligible&risk=high deep", onc,
         [f"/patients/?eligible=yes&risk=high&after={key}" for key in facts["deep_keys"]],
         max(1, repeat // 2),
         f"Next links (by key) at the middle and the end of {facts['filtered']:,} patients"),
        ("patient page (spread)", onc, spread, 1,
         f"{len(spread)} patients spread over the ids"),
        ("patient page (most draws)", onc, heavy, 2,
         f"the {len(heavy)} patients with most draws (up to {most})"),
        ("home / (admin)", admin, ["/"], repeat,
         "administration links; /patients/ is 403 for this role (SPEC 1)"),
    ]  # fmt: skip
    with _collected_static(), _persistent_connection(), connection.execute_wrapper(counter):
        clients = {user.pk: _client_for(user) for user in (onc, nurse, admin)}
        quiet = logging.getLogger("django.request")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the 403 is expected: no traceback for it
        try:
            refused = clients[admin.pk].get("/patients/", secure=True).status_code
        finally:
            quiet.setLevel(level)
        if refused != 403:
            raise RuntimeError(f"an administrator got {refused} for /patients/, not 403")
        for name, user, urls, times, note in scenarios:
            rows.append(_page_row(name, clients[user.pk], urls, counter, repeat=times, note=note))
    return rows


# --- 4. API throughput ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server():
    """The product's gunicorn command (config/devserver.py) on a free loopback port."""
    import http.client

    port = _free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
        prefix="servebench-gunicorn-", suffix=".log", delete=False
    )
    # The product's settings with the per-user API rate limit lifted (600 a minute would
    # answer the load generator 429s): the throttle still counts every request in Redis.
    settings_dir = tempfile.mkdtemp(prefix="servebench-settings-")
    Path(settings_dir, "servebench_settings.py").write_text(
        "from config.settings import *  # noqa: F403\n"
        "REST_FRAMEWORK = {**REST_FRAMEWORK, 'DEFAULT_THROTTLE_RATES': {\n"  # noqa: F405
        "    **REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'], 'user': '1000000/minute'}}\n"
    )
    env = _child_env()
    env["DJANGO_SETTINGS_MODULE"] = "servebench_settings"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (settings_dir, str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    proc = None
    try:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                "--graceful-timeout", "5",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            time.sleep(0.2)
        yield port
    finally:
        _stop_and_tidy(proc, log)
        shutil.rmtree(settings_dir, ignore_errors=True)


def _load(port: int, path: str, token: str, *, connections: int, seconds: float,
          warmup: float) -> dict:  # fmt: skip
    """Run the load generator in its own interpreter and return its figures."""
    spec = {
        "port": port, "path": path, "token": token, "connections": connections,
        "seconds": seconds, "warmup": warmup, "host": _host(),
    }  # fmt: skip
    proc = subprocess.run(
        [sys.executable, __file__, "--loadgen", json.dumps(spec)],
        capture_output=True, text=True, cwd=ROOT, check=False,
        timeout=seconds + warmup + 60,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("LOADGEN "):
            return json.loads(line.removeprefix("LOADGEN "))
    raise RuntimeError(f"load generator failed: {proc.stderr[-2000:]}")


def measure_api(today: date, *, seconds: float = 10.0, connections: int = 8) -> list[dict]:
    """Requests/s and latency of the patient list and worklist endpoints under gunicorn."""
    from django.db import connection

    from accounts.models import ApiToken
    from accounts.roles import Role
    from accounts.tokens import token_issue

    onc = _oncologist()
    nurse = _bench_user(NURSE, Role.NURSE)
    # Hashed, expiring tokens, issued the way `manage.py issue_token` issues them.
    tokens = {
        who: token_issue(user=user, actor=None, source=ApiToken.Source.COMMAND)[1]
        for who, user in (("oncologist", onc), ("nurse", nurse))
    }
    connection.close()
    scenarios = [
        ("/api/v1/patients/", "oncologist"),
        (f"/api/v1/patients/?oncologist={onc.username}", "oncologist"),
        ("/api/v1/worklist/", "oncologist"),
        ("/api/v1/worklist/", "nurse"),
    ]
    rows = []
    with gunicorn_server() as port:
        for path, who in scenarios:
            for conns, secs in ((1, min(3.0, seconds)), (connections, seconds)):
                load = os.getloadavg()[0]
                got = _load(port, path, tokens[who], connections=conns, seconds=secs, warmup=1.0)
                rows.append(
                    {
                        "name": f"API {path} ({who})",
                        "n": got["requests"],
                        "p50_ms": got["p50_ms"],
                        "p95_ms": got["p95_ms"],
                        "max_ms": got["max_ms"],
                        "rps": got["rps"],
                        "errors": got["errors"],
                        "concurrency": conns,
                        "seconds": secs,
                        "loadgen_cpu": got["cpu_share"],
                        "load": max(load, os.getloadavg()[0]),
                        "note": f"{conns} conn x {secs:.0f} s, loadgen cpu "
                        f"{got['cpu_share'] * 100:.0f}% of a core",
                    }
                )
    return rows


def loadgen_main(spec: dict) -> None:
    """The load generator (own process, no Django): `connections` threads, each with one
    keep-alive connection, GET `path` in a loop; requests finishing in the warm-up are not
    counted."""
    import http.client

    headers = {
        "Authorization": f"Token {spec['token']}",
        "X-Forwarded-Proto": "https",
        "Host": spec["host"],
        "Accept": "application/json",
    }
    started = time.perf_counter()
    measure_from = started + spec["warmup"]
    stop_at = measure_from + spec["seconds"]
    latencies: list[list[float]] = [[] for _ in range(spec["connections"])]
    errors = [0] * spec["connections"]

    def run(slot: int) -> None:
        conn = None
        while True:
            begin = time.perf_counter()
            if begin >= stop_at:
                break
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", spec["port"], timeout=30)
                conn.request("GET", spec["path"], headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            end = time.perf_counter()
            if begin >= measure_from and end <= stop_at:
                latencies[slot].append((end - begin) * 1000)
                if not ok:
                    errors[slot] += 1
        if conn is not None:
            conn.close()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(spec["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    wall = time.perf_counter() - started
    everything = [ms for slot in latencies for ms in slot]
    print(
        "LOADGEN "
        + json.dumps(
            {
                "requests": len(everything),
                "errors": sum(errors),
                "rps": len(everything) / spec["seconds"],
                "p50_ms": percentile(everything, 50),
                "p95_ms": percentile(everything, 95),
                "max_ms": max(everything) if everything else None,
                "cpu_share": cpu / wall,
            }
        )
    )


# --- Report --------------------------------------------------------------------------------------


def _fmt(value, spec: str = ".0f") -> str:
    return "" if value is None else format(value, spec)


def print_serving_table(results: dict) -> None:
    """results: {"patients", "today", "on_commit": dict, "pages": [...], "api": [...]},
    as measure_all returns it; any of the three may be missing."""
    print()
    print(
        f"ESR1 Watch serving benchmark: {results.get('patients', 0):,} patients, seed {SEED}, "
        f"as of {results.get('today')}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'measurement':<40} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'cpu ms':>6} {'pg ms':>5} {'queries':>7} {'req/s':>6} {'errors':>6} {'load':>5}  note"
    )
    rule = "-" * (len(header) + 40)
    print(header)
    print(rule)
    rows = [results["on_commit"]] if results.get("on_commit") else []
    rows += results.get("pages", []) + results.get("api", [])
    for row in rows:
        queries = ""
        if row.get("queries_min") is not None:
            low, high = row["queries_min"], row["queries_max"]
            queries = str(low) if low == high else f"{low}-{high}"
        errors = row.get("errors", row.get("timeouts"))
        print(
            f"{row['name'][:40]:<40} {row['n']:>6,} {_fmt(row['p50_ms'], '.1f'):>8} "
            f"{_fmt(row['p95_ms'], '.1f'):>8} {_fmt(row['max_ms'], '.1f'):>8} "
            f"{_fmt(row.get('cpu_ms'), '.1f'):>6} {_fmt(row.get('pg_cpu_ms'), '.1f'):>5} "
            f"{queries:>7} "
            f"{_fmt(row.get('rps'), '.1f'):>6} {_fmt(errors, 'd'):>6} "
            f"{_fmt(row.get('load'), '.1f'):>5}  {row.get('note', '')}"
        )
    print(rule)
    print(
        "on-commit: COMMIT of the result -> its open esr1_switch alert seen by another"
        " connection (10 ms poll), real Celery worker; errors = timeouts (30 s).\n"
        "pages: server time of Client.get in-process (middleware, view, queries, template,"
        " session save); cpu ms: this process's CPU time per request (mean), pg ms: the"
        " Postgres backend's (mean; blank when the server is not on this machine); queries"
        " per request, min-max; kB: the largest response.\n"
        "API: gunicorn 2 workers x 4 threads on loopback, latency as the load process sees it;"
        " errors: answers other than 200 and broken connections.\n"
        "load: 1-minute load average around the measurement (other work on the machine)."
    )
    _print_targets(results)


def _print_targets(results: dict) -> None:
    pages = results.get("pages", [])
    checks = []
    on_commit = results.get("on_commit")
    if on_commit:
        p95 = on_commit["p95_ms"]
        checks.append((
            f"on-commit alert p95 <= {TARGETS['on_commit_p95_ms'] / 1000:.0f} s",
            f"{_fmt(p95, '.0f')} ms over {on_commit['n']}, {on_commit['timeouts']} timeouts",
            p95 is not None and p95 <= TARGETS["on_commit_p95_ms"] and not on_commit["timeouts"],
        ))  # fmt: skip
    for row in pages:
        if row["name"].startswith(TARGET_PAGES):
            checks.append((
                f"{row['name']} p95 <= {TARGETS['page_p95_ms']:.0f} ms",
                f"{row['p95_ms']:.0f} ms",
                row["p95_ms"] <= TARGETS["page_p95_ms"],
            ))  # fmt: skip
    for row in pages:
        if row["name"].startswith(SCALE_PAGES):
            checks.append((
                f"{row['name']} p95 <= {TARGETS['scale_p95_ms']:.0f} ms",
                f"{row['p95_ms']:.0f} ms",
                row["p95_ms"] <= TARGETS["scale_p95_ms"],
            ))  # fmt: skip
    for row in pages:
        if row["name"].startswith("worklist"):
            checks.append((
                f"{row['name']}: same queries every time",
                f"{row['queries_min']}-{row['queries_max']} queries",
                row["queries_min"] == row["queries_max"],
            ))  # fmt: skip
    spread = next((r for r in pages if r["name"] == "patient page (spread)"), None)
    heavy = next((r for r in pages if r["name"] == "patient page (most draws)"), None)
    if spread and heavy:
        checks.append((
            "patient page: queries do not grow with draws",
            f"most draws {heavy['queries_max']}, any patient {spread['queries_min']}-"
            f"{spread['queries_max']}",
            heavy["queries_max"] <= spread["queries_max"],
        ))  # fmt: skip
    others = [r for r in pages if not r["name"].startswith(TARGET_PAGES)]
    if others:
        worst = max(others, key=lambda r: r["p95_ms"])
        checks.append((
            f"other pages p95 <= {TARGETS['page_p95_ms']:.0f} ms",
            f"worst: {worst['name']} {worst['p95_ms']:.0f} ms",
            worst["p95_ms"] <= TARGETS["page_p95_ms"],
        ))  # fmt: skip
    if results.get("api"):
        errors = sum(r.get("errors", 0) for r in results["api"])
        checks.append(("API answers without errors", f"{errors} errors", errors == 0))
    print(f"targets, at {results.get('patients', 0):,} patients:")
    for label, value, met in checks:
        print(f"  {'met   ' if met else 'MISSED'}  {label:<48} {value}")


# --- 5. A full run fanned out over Celery worker processes -------------------------------------


def measure_fanout(today: date, *, processes=(1, 2, 4)) -> list[dict]:
    """The full run (every patient; a steady-state night: the verdicts were stored before)
    in-process, then through `run_surveillance --via-workers`'s path (surveillance.fanout)
    with one worker of 1, 2 and 4 processes on a queue of its own."""
    from django.db import connection

    from patients.models import Patient
    from surveillance import engine, fanout

    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    rows = []

    def timed(name, run, note="") -> dict:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        stats = run()
        seconds = time.perf_counter() - started
        row = {"name": name, "seconds": seconds, "counts": stats.summary(),
               "load": max(load, os.getloadavg()[0]), "note": note}  # fmt: skip
        print(f"  {name}: {seconds:.1f} s ({row['counts']})", file=sys.stderr)
        rows.append(row)
        return row

    timed("in-process (SURVEILLANCE_ENGINE_WORKERS threads)",
          lambda: engine.run_for_patients(ids, today=today))  # fmt: skip
    connection.close()
    shares = len(fanout.shares(ids))
    for n in processes:
        queue = f"servebench-fanout-{uuid.uuid4().hex[:8]}"
        with _default_queue(queue), celery_worker(queue, concurrency=n):
            timed(f"--via-workers, {n} worker process{'es' if n > 1 else ''}",
                  lambda: fanout.run_via_workers(ids, today=today),
                  note=f"{shares} shares")  # fmt: skip
    one = next(r["seconds"] for r in rows if r["name"].startswith("--via-workers, 1 "))
    for row, n in zip(rows[1:], processes, strict=True):
        row["speedup"] = one / row["seconds"]
        row["efficiency"] = row["speedup"] / n
    return rows


def print_fanout_table(rows: list[dict], patients: int) -> None:
    print()
    print(f"Full run, {patients:,} patients, {os.cpu_count()} CPUs (steady state)")
    print(f"{'how':<50} {'seconds':>8} {'speed-up':>8} {'efficiency':>10} {'load':>5}  counts")
    for row in rows:
        print(
            f"{row['name']:<50} {row['seconds']:>8.1f} {_fmt(row.get('speedup'), '.2f'):>8} "
            f"{_fmt(row.get('efficiency'), '.0%'):>10} {row['load']:>5.1f}  {row['counts']}"
            f"{'; ' + row['note'] if row['note'] else ''}"
        )


def measure_all(today: date, *, only: list[str] | None = None) -> dict:
    from patients.models import Patient

    wanted = set(only or ("on_commit", "pages", "api"))
    return {
        "fanout": measure_fanout(today) if "fanout" in wanted else [],
        "patients": Patient.objects.count(),
        "today": today.isoformat(),
        "on_commit": measure_on_commit(today) if "on_commit" in wanted else None,
        "pages": measure_pages(today) if "pages" in wanted else [],
        "api": measure_api(today) if "api" in wanted else [],
    }


# --- Standalone ----------------------------------------------------------------------------------


def _database_name() -> str:
    return os.environ.get("ESR1_SERVEBENCH_DB", DEFAULT_DB)


def _configure_environment() -> None:
    configure_environment(_database_name(), ROOT)


def _admin_execute(sql: str) -> None:
    admin_execute(sql)


def _prepare_database(patients: int, today: date) -> None:
    from django.core.management import call_command
    from django.db import connection

    from config import dbroles
    from surveillance import engine
    from surveillance.synthetic_cohort import seed_cohort

    name = _database_name()
    connection.close()
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_execute(f'CREATE DATABASE "{name}"')
    # Migrated and seeded as the owner, as `make run` does; measured as the application.
    with dbroles.as_owner():
        call_command("migrate", verbosity=0)
        print(f"seeding {patients:,} patients (seed {SEED}) into {name} ...", file=sys.stderr)
        seed_cohort(patients=patients, seed=SEED, today=today, progress=True)
        print("running the engine once ...", file=sys.stderr)
        print(engine.run_all(today=today).summary(), file=sys.stderr)
    connection.close()  # no maintenance step a user would not take: the data as they have it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000, metavar="N")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true",
        help="measure the database as it is (seeded and evaluated before, e.g. with --keep)",
    )  # fmt: skip
    parser.add_argument(
        "--only", action="append", choices=("on_commit", "pages", "api", "fanout"),
        help="measure only this (repeatable); default: on_commit, pages and api",
    )  # fmt: skip
    parser.add_argument(
        "--without-read-log", action="store_true",
        help="pages only: skip the record-access rows that list pages and forms write "
        "(patients.access_log.log_reads), as a baseline for what logging every read costs; "
        "the product itself has no such switch",
    )  # fmt: skip
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(json.loads(args.loadgen))
        return
    _configure_environment()
    # A SIGTERM unwinds like Ctrl-C, so the worker and gunicorn are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import django

    django.setup()
    from django.db import connection

    from patients.models import clinic_today

    if args.without_read_log:
        from patients import access_log

        access_log.log_reads = lambda **kwargs: 0
    today = clinic_today()
    try:
        if not args.reuse:
            _prepare_database(args.patients, today)
        wanted = ", ".join(args.only or ("on_commit", "pages", "api"))
        print(f"measuring: {wanted} ...", file=sys.stderr)
        results = measure_all(today, only=args.only)
    finally:
        connection.close()
        if not args.keep and not args.reuse:
            _admin_execute(f'DROP DATABASE IF EXISTS "{_database_name()}" WITH (FORCE)')
    print_serving_table(results)
    if results.get("fanout"):
        print_fanout_table(results["fanout"], results["patients"])


if __name__ == "__main__":
    main()

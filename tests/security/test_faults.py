"""Faults on the real services: a worker killed mid-run, Redis gone, a dropped database
connection. Each test prints a one-line outcome (visible with `-s`)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.db.models import Count
from django.test import Client
from werkzeug.test import Client as WsgiClient

from config.celery import app
from patients.models import Patient, PendingEvaluation, Treatment
from surveillance import engine, tasks
from surveillance.models import Alert, Draw, Result, SurveillanceState, Variant
from tests.conftest import ROOT, _test_database_url
from tests.factories import (
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)


def wait_for(predicate, *, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def outcome(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\nOUTCOME {line}")


# --------------------------------------------------------------------------------------------
# 1. A worker killed in the middle of the nightly run
# --------------------------------------------------------------------------------------------

COHORT = 400
TEST_BATCH_SIZE = 100  # four batches, so the kill lands between committed and pending ones

# The worker under test: the project's Celery app with two knobs turned for the test. Small
# batches make batch boundaries observable with a small cohort; a short visibility timeout
# (and a restore sweep every second) makes Redis hand an unacknowledged message to the next
# worker within seconds instead of an hour.
WORKER_SCRIPT = f"""
import sys
import django

django.setup()
from config.celery import app
from surveillance import engine

engine.BATCH_SIZE = {TEST_BATCH_SIZE}
app.conf.broker_transport_options = {{
    **app.conf.broker_transport_options,
    "visibility_timeout": 3,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}}
app.worker_main(sys.argv[1:])
"""


def start_worker(queue: str, name: str) -> tuple[subprocess.Popen, str]:
    hostname = f"{name}-{os.getpid()}@{socket.gethostname()}"
    env = dict(
        os.environ,
        DATABASE_URL=_test_database_url(),
        CELERY_TASK_DEFAULT_QUEUE=queue,
        PYTHONUNBUFFERED="1",
        # One stream, so the batches run in id order and "two committed, the third waiting"
        # is a state the test can arrange; parallel streams commit batch by batch the same way.
        SURVEILLANCE_ENGINE_WORKERS="1",
    )
    (ROOT / ".data").mkdir(exist_ok=True)
    log = open(ROOT / ".data" / f"test-fault-{name}.log", "w")  # noqa: SIM115 - child keeps it
    proc = subprocess.Popen(
        [
            sys.executable, "-c", WORKER_SCRIPT, "worker", "--loglevel", "info",
            "--pool", "prefork", "--concurrency", "1", "--queues", queue,
            "--without-gossip", "--without-mingle", "--hostname", hostname,
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a kill takes the pool children too
    )  # fmt: skip
    log.close()
    if (
        not wait_for(
            lambda: (
                proc.poll() is not None or app.control.ping(destination=[hostname], timeout=0.5)
            ),
            timeout=60,
            interval=0.2,
        )
        or proc.poll() is not None
    ):
        stop(proc)
        raise RuntimeError(f"fault-test worker {name} did not start; see .data/{log.name}")
    return proc, hostname


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def build_cohort(n: int) -> dict[str, list[int]]:
    """n patients in four groups: ESR1-positive, ESR1-negative, not yet drawn (all three
    eligible) and second-line (not eligible). Bulk inserts: the point is the run."""
    onc = PatientFactory.build().oncologist
    onc.save()
    patients = Patient.objects.bulk_create(
        [PatientFactory.build(oncologist=onc, mrn=f"FAULT{i:05d}") for i in range(n)]
    )
    groups = {"positive": [], "negative": [], "undrawn": [], "second_line": []}
    treatments, draws = [], []
    for i, patient in enumerate(patients):
        group = list(groups)[i % 4]
        groups[group].append(patient.id)
        line = 2 if group == "second_line" else 1
        treatments.append(
            TreatmentFactory.build(patient=patient, line_number=line, start_date=days(-200))
        )
        if group in ("positive", "negative"):
            draws.append(
                DrawFactory.build(
                    patient=patient,
                    status="resulted",
                    collected_on=days(-30),
                    accession=f"FAULT{i:05d}",
                )
            )
    Treatment.objects.bulk_create(treatments)
    draws = Draw.objects.bulk_create(draws)
    positive = set(groups["positive"])
    results = Result.objects.bulk_create(
        [
            ResultFactory.build(
                draw=draw,
                reported_on=days(-25),
                esr1_status="detected" if draw.patient_id in positive else "not_detected",
            )
            for draw in draws
        ]
    )
    Variant.objects.bulk_create(
        [
            VariantFactory.build(result=result, vaf_percent=Decimal("1.1"))
            for result in results
            if result.draw.patient_id in positive
        ]
    )
    return groups


def _advisory_waiters(bucket: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = %s AND objid = %s",
            [engine.LOCK_NAMESPACE, bucket],
        )
        return cursor.fetchone()[0]


def _with_verdict() -> int:
    """Patients with a stored verdict (a run rewrites a verdict only when it changes)."""
    return SurveillanceState.objects.filter(evaluated_at__isnull=False).count()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_run_leaves_no_duplicate_and_no_missing_alert(capsys):
    groups = build_cohort(COHORT)
    ids = sorted(i for group in groups.values() for i in group)
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    # Hold one patient of the third batch, so the run is caught in the middle: two batches
    # committed, the third inside its transaction waiting for this lock, the fourth not begun.
    held = ids[2 * TEST_BATCH_SIZE + TEST_BATCH_SIZE // 2] % engine.LOCK_BUCKETS  # its bucket
    holder = psycopg.connect(_test_database_url())  # its transaction holds the lock
    started_at = time.time()
    first = second = None
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", [engine.LOCK_NAMESPACE, held])

        first, _ = start_worker(queue, "victim")
        tasks.run_all.apply_async(queue=queue)
        assert wait_for(lambda: _advisory_waiters(held), timeout=60), "the run never started"
        committed = _with_verdict()
        assert committed == 2 * TEST_BATCH_SIZE, committed

        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.time()
        holder.rollback()  # the killed run's lock waiter goes away with its connection

        # Nothing of the third batch survived the kill.
        assert _with_verdict() == committed

        # A new worker: Redis hands it the unacknowledged run_all, which it runs to the end.
        second, _ = start_worker(queue, "successor")
        assert wait_for(lambda: _with_verdict() == COHORT, timeout=90, interval=0.2), (
            f"the redelivered run did not finish: {_with_verdict()}/{COHORT} evaluated"
        )
    finally:
        holder.close()
        for proc in (first, second):
            if proc is not None:
                stop(proc)
    redelivered_in = time.time() - killed_at

    # The next run (in-process) finds nothing to add: nothing was missing.
    rerun = engine.run_all()

    open_alerts = Alert.objects.filter(status="open")
    duplicates = (
        open_alerts.values("patient", "kind", "subject").annotate(n=Count("id")).filter(n__gt=1)
    )
    assert not duplicates.exists(), list(duplicates)
    switch = set(open_alerts.filter(kind="esr1_switch").values_list("patient_id", flat=True))
    assert switch == set(groups["positive"])
    planned = Draw.objects.filter(status="planned").values("patient").annotate(n=Count("id"))
    per_patient = {row["patient"]: row["n"] for row in planned}
    eligible = set(groups["positive"]) | set(groups["negative"]) | set(groups["undrawn"])
    assert set(per_patient) == eligible and set(per_patient.values()) == {1}
    assert rerun.opened == 0 and rerun.planned == len(eligible), rerun.as_dict()
    outcome(
        capsys,
        f"worker SIGKILLed mid-run ({committed}/{COHORT} patients committed, batch 3 in "
        f"flight): Redis redelivered run_all to a new worker, finished {redelivered_in:.1f} s "
        f"after the kill; {len(switch)} esr1_switch alerts (all expected), "
        f"{len(per_patient)} planned draws (one per eligible patient), no duplicate open "
        f"alert; a further run opened {rerun.opened} (took {time.time() - started_at:.0f} s)",
    )


# --------------------------------------------------------------------------------------------
# 2. Redis unreachable: pages and writes go on, readiness says why
# --------------------------------------------------------------------------------------------

CLOSED_PORT = "redis://127.0.0.1:1/0"


def _point_celery_at(url: str) -> None:
    # Forget every pooled connection and producer so the next send dials the new address.
    app.close()
    app.conf.broker_url = url
    app.conf.result_backend = url
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def redis_down(settings):
    """Everything this process knows as Redis (broker, result backend, cache, the readiness
    probe's REDIS_URL) points at a port where nothing listens."""
    saved = app.conf.broker_url, app.conf.result_backend
    settings.REDIS_URL = CLOSED_PORT
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": CLOSED_PORT, "OPTIONS": {}}
    }
    _point_celery_at(CLOSED_PORT)
    try:
        yield
    finally:
        _point_celery_at(saved[0])
        app.conf.result_backend = saved[1]


@pytest.mark.django_db(transaction=True)
def test_redis_down_pages_and_result_entry_keep_working(redis_down, nurse, oncologist, capsys):
    from django.core.cache import cache

    with pytest.raises(Exception):  # noqa: B017 - the point: the cache really is unreachable
        cache.get("anything")

    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-120))
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-5))
    client = Client()
    client.force_login(nurse)
    client.get("/healthz")  # loads the middleware once, so the timings below are the pages'

    timings = {}
    for url in ("/", "/patients/", f"/patients/{patient.id}/", f"/draws/{draw.id}/result/"):
        started = time.monotonic()
        response = client.get(url)
        timings[url] = time.monotonic() - started
        assert response.status_code == 200, (url, response.status_code)
        assert timings[url] < 5, f"{url} took {timings[url]:.1f} s with Redis down"

    started = time.monotonic()
    response = client.post(
        f"/draws/{draw.id}/result/",
        {
            "reported_on": days(-1).isoformat(), "status": "final", "comment": "",
            "variants-TOTAL_FORMS": "1", "variants-INITIAL_FORMS": "0",
            "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "30",
            "variants-0-gene": "ESR1", "variants-0-protein_change": "D538G",
            "variants-0-vaf_percent": "0.4",
        },
    )  # fmt: skip
    save_took = time.monotonic() - started
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.id}/"
    assert save_took < 5, f"saving a result took {save_took:.1f} s with Redis down"
    result = Result.objects.get(draw=draw)
    assert result.esr1_status == "detected"
    # Committed with its re-evaluation mark; the enqueue after commit failed quietly.
    assert PendingEvaluation.objects.filter(patient=patient).exists()
    assert not Alert.objects.filter(patient=patient).exists()

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["down"] == ["redis"]
    assert ready.json()["checks"]["postgres"] == "ok"

    # The sweep (run by beat once Redis is back) catches up.
    stats = engine.run_marked()
    assert stats.evaluated == 1
    assert Alert.objects.filter(patient=patient, kind="esr1_switch", status="open").exists()
    assert not PendingEvaluation.objects.filter(patient=patient).exists()
    slowest_url = max(timings, key=timings.get)
    outcome(
        capsys,
        f"Redis down: home, patient list, patient page and result form 200 (slowest "
        f"{slowest_url} {timings[slowest_url]:.2f} s), result saved in {save_took:.2f} s "
        "with its re-evaluation mark, "
        f"/readyz 503 down=['redis']; run_marked() then raised the esr1_switch alert",
    )


# --------------------------------------------------------------------------------------------
# 3. The database drops the connection between two requests
# --------------------------------------------------------------------------------------------


@pytest.fixture
def wsgi_client():
    """The real WSGI handler (unlike Django's test client it runs the per-request
    connection clean-up and health check, as under gunicorn), in this thread."""
    return WsgiClient(get_wsgi_application())


def _terminate(pid: int) -> None:
    with psycopg.connect(_test_database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        gone = wait_for(
            lambda: (
                not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            ),
            timeout=10,
        )
    assert gone, f"backend {pid} still there"


def _backend_pid() -> int:
    assert connection.connection is not None, "the request should have left its connection open"
    return connection.connection.info.backend_pid


@pytest.mark.django_db(transaction=True)
def test_dropped_database_connection_is_replaced_on_the_next_request(
    wsgi_client, nurse, oncologist, capsys
):
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-90))
    browser = Client()
    browser.force_login(nurse)
    wsgi_client.set_cookie("sessionid", browser.cookies["sessionid"].value)

    page = f"/patients/{patient.id}/"
    assert wsgi_client.get(page).status_code == 200
    killed = [_backend_pid()]
    _terminate(killed[0])

    after_drop = wsgi_client.get(page)
    body = after_drop.get_data(as_text=True)
    assert "Traceback" not in body and "psycopg" not in body
    assert after_drop.status_code == 200, after_drop.status_code
    assert _backend_pid() != killed[0]

    # The same for the readiness probe, which must not report a dead connection as an outage.
    killed.append(_backend_pid())
    _terminate(killed[1])
    ready = wsgi_client.get("/readyz")
    assert ready.status_code == 200, ready.get_data(as_text=True)
    assert wsgi_client.get(page).status_code == 200
    outcome(
        capsys,
        "database connection terminated (pg_terminate_backend) between requests, twice: the "
        "next patient page and the next /readyz were 200 on a fresh connection (no error "
        "page, no traceback)",
    )

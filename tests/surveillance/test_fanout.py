"""A run fanned out over the Celery workers (surveillance.fanout) decides exactly what the
in-process run decides, prints the same counts, and survives a worker killed mid-share."""

import io
import logging
import os
import signal
import threading
import time
from datetime import date, timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from config.celery import app
from patients.models import Patient, PendingEvaluation
from surveillance import engine, fanout, planner_stats
from surveillance.models import Alert, Draw, SurveillanceRun, SurveillanceState
from tests.conftest import _test_database_url

AS_OF = date(2026, 6, 15)


def test_shares_hold_whole_buckets_and_every_patient_once():
    ids = list(range(1, 3001))
    parts = fanout.shares(ids, size=100)
    assert sorted(i for part in parts for i in part) == ids
    assert all(len(part) <= 100 for part in parts)
    owner = {}
    for n, part in enumerate(parts):
        for i in part:
            assert owner.setdefault(i % engine.LOCK_BUCKETS, n) == n  # a bucket in one share
    assert fanout.shares([]) == []


def seed(patients: int) -> None:
    call_command("seed_cohort", patients=patients, seed=7, as_of=AS_OF.isoformat(), verbosity=0)


def decisions() -> dict:
    """What a user sees of a run: planned draws, alerts, verdicts."""
    return {
        "planned": set(Draw.objects.filter(status="planned").values_list("patient_id", "due_date")),
        "alerts": set(
            Alert.objects.values_list(
                "patient_id", "kind", "subject", "status", "severity", "title", "decision"
            )
        ),
        "states": set(
            SurveillanceState.objects.values_list(
                "patient_id", "eligible", "reason", "risk_level", "next_draw_due"
            )
        ),
    }


def forget_the_run() -> None:
    """Back to the cohort as seeded: no planned draws, alerts, verdicts or runs."""
    Alert.objects.all().delete()
    Draw.objects.filter(status="planned").delete()
    SurveillanceState.objects.all().delete()
    SurveillanceRun.objects.all().delete()


def run_command(*extra) -> str:
    out = io.StringIO()
    call_command("run_surveillance", "--as-of", AS_OF.isoformat(), *extra, stdout=out)
    return out.getvalue()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@override_settings(SURVEILLANCE_SHARE_SIZE=60)
def test_via_workers_plans_and_alerts_as_the_in_process_run(celery_worker_process):
    seed(400)
    assert len(fanout.shares(Patient.objects.values_list("id", flat=True), size=60)) > 4

    through_workers = run_command("--via-workers")
    fanned = decisions()
    forget_the_run()
    in_process = run_command()

    assert through_workers == in_process
    assert decisions() == fanned
    assert fanned["planned"] and any(a[1] == "esr1_switch" for a in fanned["alerts"])
    assert "evaluated 400 patients" in in_process
    assert in_process.startswith(f"full run for {AS_OF.isoformat()} (no full run yet)")
    # And again through the workers: nothing to open or resolve the second time.
    again = run_command("--via-workers").splitlines()[-1]
    assert again.endswith("opened 0, resolved 0")
    assert decisions() == fanned


def worker_pid_running(patient_id: int) -> int | None:
    """The pid of the worker process running the share that holds this patient."""
    for tasks in (app.control.inspect(timeout=1.0).active() or {}).values():
        for task in tasks:
            if task["name"] == "surveillance.run_share" and patient_id in task["args"][0]:
                return task["worker_pid"]
    return None


def advisory_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_share_loses_nothing(celery_worker_process):
    seed(300)
    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    held = ids[0]
    bucket = held % engine.LOCK_BUCKETS
    # Another run holds the bucket of the first patient: its share blocks on the lock,
    # mid-share, inside its transaction.
    blocker = psycopg.connect(_test_database_url(), autocommit=True)
    blocker.execute("SELECT pg_advisory_lock(%s, %s)", [engine.LOCK_NAMESPACE, bucket])
    outcome = {}
    runner = threading.Thread(
        target=lambda: outcome.update(
            stats=fanout.run_via_workers(ids, today=AS_OF, size=50, timeout=120)
        )
    )
    runner.start()
    try:
        first_pid = wait_for(lambda: advisory_waiters() and worker_pid_running(held))
        assert first_pid, "the share holding the locked bucket never started"
        os.kill(first_pid, signal.SIGKILL)
        # Requeued, not failed: another worker process takes the same share and blocks again.
        second_pid = wait_for(
            lambda: (pid := worker_pid_running(held)) and pid != first_pid and pid
        )
        assert second_pid, "the killed share was not delivered again"
        assert wait_for(advisory_waiters)
    finally:
        blocker.execute("SELECT pg_advisory_unlock(%s, %s)", [engine.LOCK_NAMESPACE, bucket])
        blocker.close()
        runner.join(timeout=120)
    assert not runner.is_alive()
    fanned_stats, fanned = outcome["stats"], decisions()
    assert fanned_stats.evaluated == 300 and fanned_stats.failed == 0
    assert SurveillanceState.objects.filter(patient_id=held).exists()

    forget_the_run()
    in_process = engine.run_for_patients(ids, today=AS_OF)
    assert decisions() == fanned
    assert fanned_stats.summary() == in_process.summary()
    assert celery_worker_process.poll() is None


def recorded_run(day: date) -> SurveillanceRun | None:
    return SurveillanceRun.objects.filter(today=day).order_by("-id").first()


def counts_line(stats: engine.RunStats) -> dict:
    return {k: v for k, v in stats.as_dict().items() if k != "failed_ids"}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@override_settings(SURVEILLANCE_SHARE_SIZE=60, SURVEILLANCE_FULL_RUN_WEEKDAY=None)
def test_the_run_started_from_a_task_chooses_and_records_as_the_in_process_run(
    celery_worker_process,
):
    seed(200)
    fanout.run_all_via_workers_task.delay(AS_OF.isoformat())
    first = wait_for(lambda: recorded_run(AS_OF), timeout=90)
    assert first is not None, "the chord's callback never recorded the run"
    assert (first.kind, first.reason, first.evaluated) == ("full", "requested", 200)
    fanned = decisions()
    forget_the_run()
    in_process = engine.run_nightly(today=AS_OF, full=True)
    assert decisions() == fanned
    assert first.counts == counts_line(in_process.stats)

    # The next morning through the workers: incremental, the patients the engine chooses.
    # One eligible patient left the programme; the change's message was lost, its mark stayed.
    day_1 = AS_OF + timedelta(days=1)
    draw = Draw.objects.filter(status="planned", pinned=False).order_by("patient_id").first()
    Patient.objects.filter(id=draw.patient_id).update(status="inactive")
    PendingEvaluation.objects.create(patient_id=draw.patient_id, marked_at=timezone.now())
    chosen = engine.patients_to_evaluate(day_1, False)
    assert draw.patient_id in chosen and len(chosen) < 200
    fanout.run_nightly_via_workers_task.delay(day_1.isoformat())
    second = wait_for(lambda: recorded_run(day_1), timeout=90)
    assert second is not None, "the chord's callback never recorded the run"
    assert (second.kind, second.evaluated) == ("incremental", len(chosen))
    assert Draw.objects.get(id=draw.id).status == "cancelled"
    assert not PendingEvaluation.objects.exists()
    # The full run of the same day finds nothing left to do and counts the same totals.
    full = engine.run_nightly(today=day_1, full=True)
    assert (full.stats.opened, full.stats.resolved, full.stats.updated) == (0, 0, 0)
    assert (second.counts["eligible"], second.counts["planned"]) == (
        full.stats.eligible, full.stats.planned,
    )  # fmt: skip
    assert second.counts["eligible"] == in_process.stats.eligible - 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@override_settings(SURVEILLANCE_FULL_RUN_WEEKDAY=None)
def test_a_run_from_a_task_with_nobody_to_evaluate_is_still_recorded(celery_worker_process):
    seed(20)
    engine.run_nightly(today=AS_OF)
    day_1 = AS_OF + timedelta(days=1)
    engine.run_nightly(today=day_1)
    assert engine.patients_to_evaluate(day_1, False) == []
    fanout.run_nightly_via_workers_task.delay(day_1.isoformat())
    assert wait_for(lambda: SurveillanceRun.objects.filter(today=day_1).count() == 2, timeout=30)
    run = recorded_run(day_1)
    assert (run.kind, run.evaluated, run.counts["eligible"]) == (
        "incremental", 0, SurveillanceState.objects.filter(eligible=True).count(),
    )  # fmt: skip


def estimated_alerts() -> float:
    """What the planner believes surveillance_alert holds (-1: never analysed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'surveillance_alert'")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_chord_callback_of_a_large_run_analyses_what_the_run_changed(monkeypatch):
    seed(300)
    ids = list(Patient.objects.values_list("id", flat=True))
    stats = engine.run_for_patients(ids, today=AS_OF)  # 300 patients: not a large run
    assert stats.opened > 50 and estimated_alerts() <= 0
    started = engine.start_run(today=AS_OF, full=True)

    fanout.run_finished([stats.as_dict()], started.as_message())
    assert estimated_alerts() <= 0  # a small run leaves it to the minute sweep

    monkeypatch.setattr(engine, "LARGE_RUN_PATIENTS", 100)  # a large run at this size
    monkeypatch.setattr(planner_stats, "FLOOR", 50)
    fanout.run_finished([stats.as_dict()], started.as_message())
    assert estimated_alerts() == Alert.objects.count()


@pytest.mark.django_db
def test_a_chord_callback_queued_by_an_earlier_build_still_logs_the_run(caplog):
    """Before runs were recorded, the callback's second argument was the run's date alone;
    such a callback can still be in the queue when an installation upgrades."""
    caplog.set_level(logging.INFO, logger="surveillance.fanout")
    answers = [
        engine.RunStats(evaluated=3, eligible=2).as_dict(),
        engine.RunStats(evaluated=1).as_dict(),
    ]

    counts = fanout.run_finished(answers, AS_OF.isoformat())

    assert (counts["evaluated"], counts["eligible"]) == (4, 2)
    assert not SurveillanceRun.objects.exists()
    assert f"Surveillance run for {AS_OF.isoformat()} through the workers" in caplog.text

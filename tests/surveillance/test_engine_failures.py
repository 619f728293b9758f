"""One bad record never stops a run (SPEC 5.8): a patient whose evaluation fails is logged
with its id and error and skipped, every other patient is evaluated and alerted in the same
run, the run counts it, and the sweep retries it later and later without holding up the
others."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone
from pghistory import core as pghistory_core

from patients import outbox
from patients.models import PendingEvaluation
from surveillance import engine, marks, rules, tasks
from surveillance.models import Alert, Draw, SurveillanceState
from tests.factories import (
    TODAY,
    DrawFactory,
    days,
    esr1_positive_patients,
)


def corrupt(patient_id: int) -> None:
    """A decided ESR1 alert whose list of covered results is a number: a row the engine's
    loader cannot read, so the whole batch it is in fails."""
    Alert.objects.create(
        patient_id=patient_id, kind="esr1_switch", severity="high", status="resolved",
        title="ESR1", rationale="-", result_ids=5, policy_version=1, decision="dismissed",
        resolved_at=timezone.now(), note="entered by hand",
    )  # fmt: skip


def evaluate_failing_for(monkeypatch, doomed: set[int]) -> None:
    evaluate = rules.evaluate

    def failing(patient, **kwargs):
        if patient.id in doomed:
            raise ValueError(f"cannot read the record of patient {patient.id}")
        return evaluate(patient, **kwargs)

    monkeypatch.setattr(rules, "evaluate", failing)


def alerted() -> set[int]:
    return set(
        Alert.objects.filter(kind="esr1_switch", status="open").values_list("patient_id", flat=True)
    )


def evaluated() -> set[int]:
    return set(SurveillanceState.objects.values_list("patient_id", flat=True))


def assert_all_but(ids, doomed, stats, caplog) -> None:
    others = set(ids) - set(doomed)
    assert alerted() == others and evaluated() == others
    assert set(Draw.objects.filter(status="planned").values_list("patient_id", flat=True)) == others
    assert (stats.evaluated, stats.opened, stats.failed) == (len(others), len(others), len(doomed))
    assert sorted(stats.failed_ids) == sorted(doomed)
    assert stats.summary().endswith(f", failed {len(doomed)}")
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    for patient_id in doomed:
        (record,) = [r for r in logged if f"patient {patient_id} failed" in r.getMessage()]
        assert record.exc_info is not None, "the error is logged with its traceback"


# --- One stream ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_patient_the_rules_cannot_evaluate_is_skipped_and_the_rest_are_alerted(
    monkeypatch, caplog
):
    ids = esr1_positive_patients(6)
    doomed = [ids[2]]
    evaluate_failing_for(monkeypatch, set(doomed))
    stats = engine.run_for_patients(ids, today=TODAY)
    assert_all_but(ids, doomed, stats, caplog)
    assert "cannot read the record" in caplog.text


@pytest.mark.django_db
def test_a_record_the_loader_cannot_read_fails_only_its_patient(monkeypatch, caplog):
    monkeypatch.setattr(engine, "BATCH_SIZE", 8)  # a failing batch, and one after it
    ids = esr1_positive_patients(13)
    doomed = [ids[3], ids[6]]
    for patient_id in doomed:
        corrupt(patient_id)
    stats = engine.run_for_patients(ids, today=TODAY)
    assert_all_but(ids, doomed, stats, caplog)


@pytest.mark.django_db
def test_a_statement_the_database_refuses_fails_only_its_patient(caplog):
    """The failure aborts the batch's transaction in Postgres, not only in Python: the retries
    each run in a transaction of their own."""
    ids = esr1_positive_patients(5)
    doomed = [ids[4]]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.patient_id = {doomed[0]} THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON surveillance_surveillancestate "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
        )
    stats = engine.run_for_patients(ids, today=TODAY)
    assert_all_but(ids, doomed, stats, caplog)
    # The failed batch's trigger settings went with it: later writes are audited as usual.
    later = DrawFactory(patient_id=ids[0], status="collected", collected_on=days(-1))
    (event_model,) = pghistory_core.event_models(tracks_model=Draw)
    assert event_model.objects.filter(pgh_obj_id=later.id, pgh_label="insert").exists()


@pytest.mark.django_db
def test_when_every_patient_fails_the_run_says_so(monkeypatch):
    ids = esr1_positive_patients(3)
    evaluate_failing_for(monkeypatch, set(ids))
    stats = engine.run_for_patients(ids, today=TODAY)
    assert (stats.evaluated, stats.failed, stats.all_failed) == (0, 3, True)
    assert not engine.RunStats().all_failed, "no patients is not every patient failing"


# --- Two streams -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["rules", "loader"])
def test_with_two_streams_a_failing_patient_stops_neither(monkeypatch, settings, caplog, how):
    monkeypatch.setattr(engine, "BATCH_SIZE", 6)
    settings.SURVEILLANCE_ENGINE_WORKERS = 2
    ids = esr1_positive_patients(30)  # committed, for the streams' connections
    streams = {k: [i for i in ids if i % engine.LOCK_BUCKETS % 2 == k] for k in (0, 1)}
    assert all(len(s) > engine.BATCH_SIZE for s in streams.values()), "batches after the failure"
    doomed = [streams[0][0], streams[1][1]]  # in the first batch of each stream
    if how == "rules":
        evaluate_failing_for(monkeypatch, set(doomed))
    else:
        for patient_id in doomed:
            corrupt(patient_id)
    used = set()
    run_stream = engine._run_stream

    def recording(stream, **kwargs):
        used.add(threading.current_thread().name)
        return run_stream(stream, **kwargs)

    monkeypatch.setattr(engine, "_run_stream", recording)
    stats = engine.run_for_patients(ids, today=TODAY)
    assert len(used) == 2, "the run did not use two streams"
    assert_all_but(ids, doomed, stats, caplog)


def database_gone():
    raise OperationalError("the database went away")


def schema_behind():
    with connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM surveillance_draw")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", [database_gone, schema_behind])
def test_a_failure_that_is_no_patients_still_stops_the_run(monkeypatch, failure):
    """Not narrowed down patient by patient: every patient would fail the same way."""
    ids = esr1_positive_patients(4)
    tried = []

    def failing(batch, **kwargs):
        tried.append(batch)
        failure()

    monkeypatch.setattr(engine, "_run_batch", failing)
    with pytest.raises(DatabaseError):
        engine.run_for_patients(ids, today=TODAY)
    assert tried == [ids]


# --- The sweep -------------------------------------------------------------------------------


def mark(patient_id: int) -> PendingEvaluation:
    outbox.patient_changed(patient_id)
    return PendingEvaluation.objects.get(patient_id=patient_id)


def due_now(patient_id: int) -> None:
    """As if the wait had passed."""
    PendingEvaluation.objects.filter(patient_id=patient_id).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["rules", "loader"])
def test_the_sweep_retries_a_failing_patient_later_and_later(monkeypatch, how):
    ids = esr1_positive_patients(3)
    doomed, fine = ids[0], ids[1:]
    if how == "rules":
        evaluate_failing_for(monkeypatch, {doomed})
    else:
        corrupt(doomed)
    for patient_id in ids:
        mark(patient_id)

    waits = []
    for attempt in (1, 2, 3):
        before = timezone.now()
        stats = engine.run_marked(today=TODAY)
        assert (stats.failed_ids, stats.evaluated) == ([doomed], 2 if attempt == 1 else 0)
        failing = PendingEvaluation.objects.get(patient_id=doomed)
        assert failing.attempts == attempt
        waits.append(failing.next_attempt_at - before)
        # Not due yet: the next sweep leaves it alone.
        assert engine.run_marked(today=TODAY).as_dict()["failed"] == 0
        due_now(doomed)
    assert alerted() == set(fine)
    assert list(PendingEvaluation.objects.values_list("patient_id", flat=True)) == [doomed]
    first = timedelta(seconds=marks.RETRY_FIRST_SECONDS)
    assert first <= waits[0] < first + timedelta(seconds=30)
    assert waits[1] - waits[0] > first / 2 and waits[2] - waits[1] > first, waits


@pytest.mark.django_db
def test_the_wait_between_retries_stops_growing_at_the_cap(monkeypatch):
    (doomed,) = esr1_positive_patients(1)
    evaluate_failing_for(monkeypatch, {doomed})
    mark(doomed)
    PendingEvaluation.objects.filter(patient_id=doomed).update(attempts=5000)
    before = timezone.now()
    engine.run_marked(today=TODAY)
    failing = PendingEvaluation.objects.get(patient_id=doomed)
    assert failing.attempts == 5001
    wait = failing.next_attempt_at - before
    cap = timedelta(seconds=marks.RETRY_MAX_SECONDS)
    assert cap <= wait < cap + timedelta(seconds=30)


@pytest.mark.django_db
def test_fresh_marks_go_before_a_failing_one(monkeypatch):
    ids = esr1_positive_patients(3)
    doomed = ids[0]
    evaluate_failing_for(monkeypatch, {doomed})
    mark(doomed)
    PendingEvaluation.objects.filter(patient_id=doomed).update(
        attempts=4,
        next_attempt_at=timezone.now() - timedelta(hours=2),  # long due
    )
    for patient_id in ids[1:]:
        mark(patient_id)
    assert engine.run_marked(today=TODAY, limit=1).failed == 0
    assert engine.run_marked(today=TODAY, limit=1).failed == 0
    assert engine.run_marked(today=TODAY, limit=1).failed_ids == [doomed]
    assert alerted() == set(ids[1:])


@pytest.mark.django_db
def test_a_correction_is_evaluated_at_once_and_answers_the_mark(monkeypatch):
    (doomed,) = esr1_positive_patients(1)
    corrupt(doomed)
    mark(doomed)
    assert engine.run_marked(today=TODAY).failed == 1
    assert PendingEvaluation.objects.get(patient_id=doomed).next_attempt_at > timezone.now()

    Alert.objects.filter(patient_id=doomed, status="resolved").update(result_ids=[])
    outbox.patient_changed(doomed)  # the correction marks the patient: due again, at once
    assert PendingEvaluation.objects.get(patient_id=doomed).attempts == 0
    stats = engine.run_marked(today=TODAY)
    assert (stats.evaluated, stats.failed) == (1, 0)
    assert alerted() == {doomed}
    assert not PendingEvaluation.objects.exists()


@pytest.mark.django_db
def test_a_failing_patient_evaluated_on_its_own_keeps_its_mark(monkeypatch, caplog):
    """The per-patient task after a change: the failure is logged, the mark stays for the
    sweep, and the task itself succeeds (a retry storm would not help)."""
    (doomed,) = esr1_positive_patients(1)
    corrupt(doomed)
    mark(doomed)
    counts = tasks.evaluate_patient.apply(args=[doomed]).get()
    assert (counts["evaluated"], counts["failed"]) == (0, 1)
    assert PendingEvaluation.objects.get(patient_id=doomed).attempts == 1
    assert f"patient {doomed} failed" in caplog.text

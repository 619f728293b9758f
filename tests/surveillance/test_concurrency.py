"""Writers at the same time: engine runs (beat, the minute sweep, on-commit tasks, the CLI),
and the services that lock the row they are about to change.

A batch locks its patients (engine._lock_patients) before it reads, so a second run for the
same patients waits and then reads what the first one wrote: nothing is done or counted
twice. The unique indexes on open alerts and planned draws are the last line of defence.
A service that re-checks a row under its lock (select_for_update) waits for a concurrent
writer of that row and then sees what it wrote.

Each writer is a thread with its own database connection, so these tests are
transactional. They are synchronised with events and a barrier, and the tests wait for
states they can observe (a thread finished, a backend waiting for a lock in pg_locks), each
with a timeout; nothing depends on how long a sleep lasts.
"""

import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from pghistory import core as pghistory_core

from surveillance import engine
from surveillance.models import Alert, Draw
from surveillance.services import alert_resolve, draw_cancel, draw_record, result_record
from tests.factories import (
    TODAY,
    AppointmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30  # seconds; only reached when something is wrong


def waits_for_lock(pid: int, locktype: str | None = None) -> bool:
    """Whether the backend `pid` is waiting for a lock (of this type), as Postgres sees it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted "
            "AND locktype = coalesce(%s, locktype))",
            [pid, locktype],
        )
        return cursor.fetchone()[0]


def waits_for_advisory_lock(pid: int) -> bool:
    return waits_for_lock(pid, "advisory")


def until(condition, *, wake: threading.Event) -> bool:
    """Poll `condition` until it holds (True) or TIMEOUT passes (False); `wake` cuts a poll
    interval short when it is set."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return True
        wake.wait(0.005)
    return condition()


class Writer(threading.Thread):
    """`work()` on its own thread and database connection; its outcome is kept."""

    def __init__(self, work, name: str):
        super().__init__(name=name, daemon=True)
        self.work = work
        self.connected, self.finished = threading.Event(), threading.Event()
        self.pid = self.outcome = self.error = self.finished_at = None

    def run(self):
        try:
            connection.ensure_connection()
            self.pid = connection.connection.info.backend_pid
            self.connected.set()
            self.outcome = self.work()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()
            self.finished_at = time.monotonic()
            self.finished.set()

    def waiting_or_finished(self, locktype: str | None = None) -> bool:
        return self.finished.is_set() or waits_for_lock(self.pid, locktype)


class EngineRun(Writer):
    """engine.run_for_patients on its own thread and database connection."""

    def __init__(self, ids, name: str):
        super().__init__(lambda: engine.run_for_patients(ids, today=TODAY), name)

    @property
    def stats(self) -> engine.RunStats:
        return self.outcome


class Holder(threading.Thread):
    """`work()` in a transaction on its own connection, kept open (its locks held) until
    `release` is set."""

    def __init__(self, work):
        super().__init__(name="holder", daemon=True)
        self.work = work
        self.held, self.release = threading.Event(), threading.Event()
        self.error = None

    def run(self):
        try:
            with transaction.atomic():
                self.work()
                self.held.set()
                self.release.wait(TIMEOUT)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            connection.close()
            self.held.set()

    def start_holding(self) -> None:
        self.start()
        assert self.held.wait(TIMEOUT) and self.error is None, repr(self.error)


def run_side_by_side(*runs: EngineRun) -> None:
    for run in runs:
        run.start()
    for run in runs:
        assert run.finished.wait(TIMEOUT), f"{run.name} did not finish"
        assert run.error is None, f"{run.name} failed: {run.error!r}"


class Overlap:
    """Makes two runs read at the same moment and write only after both have read.

    Both enter their batch together (a barrier, before the batch takes its locks). After
    reading, each waits until the other has read too, or is waiting for a lock: with the
    engine's locks the second run cannot read while the first holds them, and the first goes
    on as soon as Postgres shows the second one waiting."""

    def __init__(self, monkeypatch, names):
        self.barrier = threading.Barrier(len(names), timeout=TIMEOUT)
        self.read = {name: threading.Event() for name in names}
        self.pids: dict[str, int] = {}
        run_batch, load_batch = engine._run_batch, engine.load_batch

        def entering(ids, **kwargs):
            me = threading.current_thread().name
            self.pids[me] = connection.connection.info.backend_pid
            self.barrier.wait()
            return run_batch(ids, **kwargs)

        def reading(ids, **kwargs):
            batch = load_batch(ids, **kwargs)
            me = threading.current_thread().name
            self.read[me].set()
            (other,) = set(self.read) - {me}
            assert until(
                lambda: self.read[other].is_set() or waits_for_advisory_lock(self.pids[other]),
                wake=self.read[other],
            ), f"{other} neither read nor waited for a lock"
            return batch

        monkeypatch.setattr(engine, "_run_batch", entering)
        monkeypatch.setattr(engine, "load_batch", reading)


def on_treatment(n: int) -> list:
    patients = [PatientFactory(enrolled_on=days(-300)) for _ in range(n)]
    for patient in patients:
        TreatmentFactory(patient=patient, start_date=days(-150))
    return patients


def result(patient, *, collected, reported, detected: bool, short="D538G", change="p.Asp538Gly"):
    draw = DrawFactory(patient=patient, status="resulted", collected_on=collected)
    found = ResultFactory(
        draw=draw, reported_on=reported, esr1_status="detected" if detected else "not_detected"
    )
    if detected:
        VariantFactory(result=found, short=short, protein_change=change, vaf_percent=Decimal("1"))
    return found


def ids_of(patients) -> list[int]:
    return [p.id for p in patients]


def open_alert_counts() -> Counter:
    return Counter(Alert.objects.filter(status="open").values_list("patient_id", "kind", "subject"))


def history(model):
    (event_model,) = pghistory_core.event_models(tracks_model=model)
    return event_model.objects


def test_a_run_waits_for_the_locks_of_its_patients_and_only_for_theirs():
    patients = on_treatment(6)
    locked, free = ids_of(patients[:3]), ids_of(patients[3:])
    buckets = [{i % engine.LOCK_BUCKETS for i in ids} for ids in (locked, free)]
    assert not buckets[0] & buckets[1], "the test needs patients in other lock buckets"

    holder = Holder(lambda: engine._lock_patients(locked))
    holder.start_holding()
    blocked, other = EngineRun(locked, "blocked"), EngineRun(free, "other")
    try:
        blocked.start()
        assert blocked.connected.wait(TIMEOUT)
        other.start()
        assert other.finished.wait(TIMEOUT) and other.error is None, (
            "a run for other patients waited for locks it does not need"
        )
        assert until(lambda: blocked.waiting_or_finished("advisory"), wake=blocked.finished)
        assert not blocked.finished.is_set(), (
            "the run went ahead while another transaction held its patients' locks"
        )
    finally:
        released_at = time.monotonic()
        holder.release.set()
    assert blocked.finished.wait(TIMEOUT), "the run did not go on once the locks were released"
    assert blocked.error is None, repr(blocked.error)
    assert blocked.finished_at >= released_at
    assert blocked.stats.evaluated == 3 and other.stats.evaluated == 3


def test_two_runs_that_start_together_change_and_count_everything_once(monkeypatch):
    """Two runs of the same patients, both entering their batch at the same moment, on a
    cohort where a run has something of each kind to do: alerts to open, alerts whose
    evidence grows, planned draws to move."""
    grows, opens, moves = on_treatment(4), on_treatment(4), on_treatment(4)
    for patient in grows:
        result(patient, collected=days(-30), reported=days(-20), detected=True)
    for patient in opens + moves:
        result(patient, collected=days(-30), reported=days(-20), detected=False)
    ids = ids_of(grows + opens + moves)
    engine.run_for_patients(ids, today=TODAY)  # where both runs start from
    last_alert = Alert.objects.order_by("id").last().id
    last_alert_event = history(Alert).order_by("pgh_id").last().pgh_id
    last_draw_event = history(Draw).order_by("pgh_id").last().pgh_id

    for patient in grows:  # a later positive joins the open switch alert's evidence
        result(patient, collected=days(-10), reported=days(-3), detected=True, short="Y537S",
               change="p.Tyr537Ser")  # fmt: skip
    for patient in opens:  # a first positive opens a switch alert
        result(patient, collected=days(-10), reported=days(-3), detected=True)
    for patient in moves:  # an appointment near the due date moves the planned draw
        planned = Draw.objects.get(patient=patient, status="planned")
        AppointmentFactory(patient=patient, date=planned.due_date + (days(5) - TODAY))

    runs = [EngineRun(ids, "first"), EngineRun(ids, "second")]
    Overlap(monkeypatch, [run.name for run in runs])
    run_side_by_side(*runs)

    assert all(n == 1 for n in open_alert_counts().values()), "an alert is open twice"
    planned = Counter(Draw.objects.filter(status="planned").values_list("patient_id", flat=True))
    assert set(planned.values()) == {1} and len(planned) == len(ids)
    # What the runs say they did is what happened, each change once.
    alert_updates = Counter(
        history(Alert)
        .filter(pgh_id__gt=last_alert_event, pgh_label="update")
        .values_list("pgh_obj_id", flat=True)
    )
    draw_updates = Counter(
        history(Draw)
        .filter(pgh_id__gt=last_draw_event, pgh_label="update")
        .values_list("pgh_obj_id", flat=True)
    )
    reported = {
        "opened": sum(run.stats.opened for run in runs),
        "updated": sum(run.stats.updated for run in runs),
        "alert updates recorded": sum(alert_updates.values()),
        "draw updates recorded": sum(draw_updates.values()),
    }
    assert reported == {
        "opened": Alert.objects.filter(id__gt=last_alert).count(),
        "updated": len(alert_updates),
        "alert updates recorded": len(alert_updates),
        "draw updates recorded": len(draw_updates),
    }
    assert (reported["opened"], reported["updated"]) == (len(opens), len(grows))
    assert len(draw_updates) == len(ids)  # every planned draw moved (new results, appointments)


def test_without_the_locks_the_unique_indexes_still_keep_one_alert_and_one_planned_draw(
    monkeypatch,
):
    """The last line of defence: two runs that both read before either writes, with the
    locks switched off, still leave one open alert per subject and one planned draw per
    patient; the loser's rows are dropped (ON CONFLICT DO NOTHING), not an error."""
    patients = on_treatment(8)
    for i, patient in enumerate(patients):
        result(patient, collected=days(-30), reported=days(-20), detected=i % 2 == 0)
    ids = ids_of(patients)
    monkeypatch.setattr(engine, "_lock_patients", lambda ids: None)
    runs = [EngineRun(ids, "first"), EngineRun(ids, "second")]
    Overlap(monkeypatch, [run.name for run in runs])
    run_side_by_side(*runs)

    counts = open_alert_counts()
    assert sorted(counts.elements()) == sorted(counts), "an alert is open twice"
    assert sum(1 for patient, kind, _ in counts if kind == "esr1_switch") == 4
    assert sum(run.stats.opened for run in runs) == sum(counts.values())
    planned = Counter(Draw.objects.filter(status="planned").values_list("patient_id", flat=True))
    assert set(planned.values()) == {1} and len(planned) == len(ids)


# --- Services that re-check a row under its lock -----------------------------------------------


def second_writer_after_first(first, second) -> Writer:
    """`first` holds its transaction open while `second` runs on another connection; once
    `second` waits for a lock of `first`'s (or is done), `first` commits. Returns `second`,
    finished: what it did after seeing, or not, what `first` wrote."""
    holder = Holder(first)
    holder.start_holding()
    writer = Writer(second, "second")
    try:
        writer.start()
        assert writer.connected.wait(TIMEOUT)
        assert until(writer.waiting_or_finished, wake=writer.finished)
    finally:
        holder.release.set()
    assert writer.finished.wait(TIMEOUT), "the second writer did not finish"
    holder.join(TIMEOUT)
    return writer


def test_a_cancel_waits_for_a_result_being_recorded_and_then_refuses(nurse):
    """draw_cancel re-reads the draw under its lock: a result recorded meanwhile wins."""
    draw = DrawFactory(patient=PatientFactory(), collected_on=days(-10), accession="G-1")
    writer = second_writer_after_first(
        lambda: result_record(
            actor=nurse, draw=draw, reported_on=days(-1), status="final", variants=[]
        ),
        lambda: draw_cancel(actor=nurse, draw=draw, reason="wrong patient"),
    )
    assert isinstance(writer.error, ValidationError), f"the cancel went through: {writer.outcome}"
    assert "has a result" in str(writer.error)
    draw.refresh_from_db()
    assert draw.status == "resulted"


def test_a_result_waits_for_a_cancel_and_then_refuses(nurse):
    """result_record re-reads the draw under its lock: a cancellation made meanwhile wins."""
    draw = DrawFactory(patient=PatientFactory(), collected_on=days(-10), accession="G-1")
    writer = second_writer_after_first(
        lambda: draw_cancel(actor=nurse, draw=draw, reason="wrong patient"),
        lambda: result_record(
            actor=nurse, draw=draw, reported_on=days(-1), status="final", variants=[]
        ),
    )
    assert isinstance(writer.error, ValidationError), (
        f"recorded on a cancelled draw: {writer.outcome}"
    )
    assert "cancelled" in str(writer.error)
    draw.refresh_from_db()
    assert draw.status == "cancelled" and not hasattr(draw, "result")


def test_two_recordings_for_one_planned_draw_fulfil_it_once(nurse):
    """draw_record locks the planned draw it fulfils: the second recording makes a draw of
    its own instead of overwriting the first one's collection."""
    patient = PatientFactory()
    planned = DrawFactory(
        patient=patient, status="planned", due_date=days(2), collected_on=None, assay="",
        accession="",
    )  # fmt: skip

    # Two samples on different days: the same day and assay twice is one sample (a 409).
    def record(accession, collected_on):
        return lambda: draw_record(
            actor=nurse, patient=patient, collected_on=collected_on, assay="guardant360_cdx",
            accession=accession,
        )  # fmt: skip

    writer = second_writer_after_first(record("G-1", days(-1)), record("G-2", days(-2)))
    assert writer.error is None, repr(writer.error)
    collected = dict(Draw.objects.filter(patient=patient).values_list("accession", "id"))
    assert collected == {"G-1": planned.id, "G-2": writer.outcome.id}, "a collection was lost"


def test_two_decisions_on_one_alert_keep_the_first(oncologist):
    """alert_resolve re-reads the alert under its lock: the second decision is refused
    instead of overwriting the first."""
    patient = on_treatment(1)[0]
    result(patient, collected=days(-10), reported=days(-3), detected=True)
    engine.run_for_patients([patient.id], today=TODAY)
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    writer = second_writer_after_first(
        lambda: alert_resolve(
            actor=oncologist,
            alert=alert,
            decision="deferred",
            note="Scan booked first",
            evidence_version=alert.evidence_version,
        ),
        lambda: alert_resolve(
            actor=oncologist,
            alert=alert,
            decision="dismissed",
            note="no",
            evidence_version=alert.evidence_version,
        ),
    )
    assert isinstance(writer.error, ValidationError), "the second decision went through"
    assert "already been resolved" in str(writer.error)
    alert.refresh_from_db()
    assert (alert.decision, alert.note) == ("deferred", "Scan booked first")

"""The surveillance engine: load timelines in bulk, apply the pure rules, reconcile storage.

`surveillance.rules` decides; this module only reads inputs set-wise (a fixed handful of
queries per batch, never per patient), calls `rules.evaluate` for each patient, and makes
the stored planned draws, alerts and SurveillanceState match the verdicts.

Concurrency: every batch takes transaction-scoped advisory locks on its patients' lock
buckets (in ascending order, so two runs cannot deadlock) before it reads, so the nightly
run, the minute sweep, per-patient tasks and the CLI can overlap without duplicating or
losing an alert.
The partial unique index on open alerts is the last line of defence. Services do not take
these locks: the engine changes a planned draw only if it is still as the run read it, and
never a draw a clinician pinned (`_reconcile_draws`), so a decision committed during a run
keeps its date.

Failures: one bad record never stops a run (SPEC 5.8). A batch that fails is retried in
halves until the failing patients stand alone; they are logged, skipped and counted, and
their outbox marks are retried later and later by the sweep (`_run_isolating`,
surveillance.marks). A run without failures pays nothing for this.

Reading is surveillance.rules_input (one loader per table, the same translation to rules
inputs as for model instances); the SQL helpers and the INSERT column lists built from the
models are surveillance.bulk.

Speed (bench/engine_bench.py; 100,000 patients, 2 cores): most of a run is Python, so the
engine avoids Python work it does not need. Rows are fetched as plain tuples
(`bulk.fetch_rows`), batch ids travel as one array parameter (`bulk.any_id`), variants the
rules never read are not loaded, writes send their rows as one JSON document (`_write`), the
cyclic GC is paused per batch (`_gc_paused`), draw and alert history rows are written
set-wise (`_own_history`) and large runs overlap two streams of batches
(`run_for_patients`). None of it changes what the rules are given or decide;
tests/surveillance/test_seed_cohort.py checks that against row-by-row ORM inputs.
"""

import functools
import gc
import json
import logging
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import pghistory
import pgtrigger
from django.conf import settings
from django.db import InterfaceError, OperationalError, ProgrammingError, connection, transaction
from django.utils import timezone

from patients.audit import history_trigger_ignore_list
from patients.models import Patient, clinic_today
from surveillance import marks, planner_stats, programme_facts, rules
from surveillance.bulk import Insert, any_id, fetch_rows, from_json, with_history
from surveillance.models import (
    ESR1_KINDS,
    LOGISTICS_KINDS,
    Alert,
    Draw,
    DrawStatus,
    RunKind,
    SurveillancePolicy,
    SurveillanceRun,
    SurveillanceState,
)
from surveillance.rules_input import load_batch

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
# At most this many patients in one evaluation after a change (run_after_change): enough to
# absorb a burst, few enough that the patient who asked is not kept waiting behind a backlog.
AFTER_CHANGE_BATCH = 200
# Namespace for pg_advisory_xact_lock(int, int): "ESR1" in ASCII.
LOCK_NAMESPACE = 0x45535231


@dataclass
class RunStats:
    evaluated: int = 0  # patients whose verdicts were stored (the failed ones are not)
    eligible: int = 0
    planned: int = 0
    opened: int = 0
    resolved: int = 0
    updated: int = 0
    failed: int = 0  # patients whose evaluation raised: logged and skipped (SPEC 5.8)
    failed_ids: list[int] = field(default_factory=list)

    def add(self, other: "RunStats") -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def all_failed(self) -> bool:
        return self.failed > 0 and self.evaluated == 0

    def summary(self) -> str:
        counts = (
            f"eligible {self.eligible}, planned {self.planned}, "
            f"opened {self.opened}, resolved {self.resolved}"
        )
        return f"{counts}, failed {self.failed}" if self.failed else counts


# --- Policy ----------------------------------------------------------------------------------


def current_policy() -> rules.Policy:
    row = SurveillancePolicy.objects.order_by("-version").first()
    if row is None:
        return rules.Policy()
    return policy_from_row(row)


def policy_from_row(row: SurveillancePolicy) -> rules.Policy:
    fields = set(rules.Policy.__dataclass_fields__)
    return rules.Policy(**{name: getattr(row, name) for name in fields})


# --- Entry points ----------------------------------------------------------------------------


def run_for_patients(
    patient_ids, *, today: date | None = None, policy: rules.Policy | None = None
) -> RunStats:
    """Evaluate these patients as of `today` under `policy` (default: the current one).

    A share of a run fanned out over the Celery workers (surveillance.fanout) is one call of
    this with the run's policy, so every share decides under the same version."""
    today = today or clinic_today()
    policy = policy or current_policy()
    ids = sorted(set(patient_ids))
    refresh_planner_stats_if_large(len(ids))  # what the last large run or load changed
    stats = _run_streams(ids, today=today, policy=policy)
    refresh_planner_stats_if_large(len(ids))  # what this run changed, for the next one
    return stats


# A run of more patients than this checks the planner's statistics as it starts and ends
# (surveillance.planner_stats). Smaller runs, the nightly incremental run and the minute sweep
# among them, leave it to the sweep task and autovacuum: analysing the alert tables after a
# day's sweeps took 1.2 s of a 3 s incremental run at 100,000 patients, and what such a run
# reads it reads through patient-id indexes whatever the estimates.
LARGE_RUN_PATIENTS = 20_000


def is_large_run(patients: int) -> bool:
    return patients > LARGE_RUN_PATIENTS


def refresh_planner_stats_if_large(patients: int) -> None:
    """planner_stats.refresh() when a run of this many patients is large; nothing otherwise.
    Every large run, in-process or through the workers, calls it as it starts (for what the
    last large run or load changed) and as it ends (for what it changed, so the next run
    plans on it)."""
    if is_large_run(patients):
        planner_stats.refresh()


def _run_streams(ids: list[int], *, today: date, policy: rules.Policy) -> RunStats:
    workers = _worker_count(len(ids))
    if workers == 1:
        return _run_stream(ids, today=today, policy=policy)
    # Each stream takes the patients of its own share of the lock buckets, so the streams
    # never wait for each other's locks; within a stream batches run in id order as before.
    streams = [[i for i in ids if i % LOCK_BUCKETS % workers == k] for k in range(workers)]
    stop = threading.Event()
    stats = RunStats()
    # Paused for the whole run: re-enabled by one stream it would walk the other's batch.
    with _gc_paused(), ThreadPoolExecutor(workers, thread_name_prefix="engine") as pool:
        futures = [
            pool.submit(_stream_in_thread, stream, today=today, policy=policy, stop=stop)
            for stream in streams
        ]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            stop.set()  # a failed stream, whichever, stops the others after their current batch
        for future in futures:
            stats.add(future.result())
    return stats


def _worker_count(patients: int) -> int:
    """Streams for a run of this many patients: one unless there are batches to overlap, and
    one inside a caller's transaction, whose uncommitted rows other connections cannot see."""
    if patients <= BATCH_SIZE or connection.in_atomic_block:
        return 1
    wanted = getattr(settings, "SURVEILLANCE_ENGINE_WORKERS", 1)
    return max(1, min(wanted, LOCK_BUCKETS, -(-patients // BATCH_SIZE)))


def _run_stream(ids, *, today: date, policy: rules.Policy, stop=None) -> RunStats:
    stats = RunStats()
    for start in range(0, len(ids), BATCH_SIZE):
        if stop is not None and stop.is_set():
            break
        # Paused around the call so the batch's objects are freed before collection resumes.
        with _gc_paused():
            stats.add(_run_isolating(ids[start : start + BATCH_SIZE], today=today, policy=policy))
    return stats


def _stream_in_thread(ids, *, today: date, policy: rules.Policy, stop) -> RunStats:
    try:
        return _run_stream(ids, today=today, policy=policy, stop=stop)
    finally:
        # The thread's own connection; the thread does not outlive the run. Its row counts
        # reach Postgres's statistics before it goes, so the run's closing check of planner
        # statistics (planner_stats.refresh) sees what this stream changed.
        planner_stats.flush_own_counts()
        connection.close()


def run_all(*, today: date | None = None) -> RunStats:
    """Evaluate every patient (a full run), and record it as one."""
    return run_nightly(today=today, full=True).stats


# --- The nightly run: full or incremental ----------------------------------------------------
#
# Every verdict carries next_change, the first day the same inputs give another verdict
# (rules._next_change), stored with the patient's state. Between full runs the nightly run
# evaluates only the patients whose next change has come, whose record changed (an outbox
# mark not yet answered), or who have no verdict yet: for everyone else the rules would
# return exactly the stored verdict (tests/surveillance/test_incremental_simulation.py runs
# both side by side, day after day).


@dataclass
class RunPlan:
    today: date
    kind: str  # RunKind
    reason: str
    policy: rules.Policy

    @property
    def full(self) -> bool:
        return self.kind == RunKind.FULL


@dataclass
class NightlyRun:
    plan: RunPlan
    patients: int  # in the cohort
    stats: RunStats

    def describe(self) -> str:
        """One line: which kind of run, why, and how many patients it evaluated."""
        plan = self.plan
        return (
            f"{plan.kind} run for {plan.today.isoformat()} ({plan.reason}):"
            f" {self.stats.evaluated + self.stats.failed} of {self.patients} patients"
        )


def plan_run(today: date, *, full: bool = False) -> RunPlan:
    """Whether the run for `today` must evaluate everybody, and why.

    Full when asked for; when no full run has completed yet; after a policy change (verdicts
    and next changes depend on the thresholds); for a date before the last run's (next
    changes only look forward); on the weekly day (settings.SURVEILLANCE_FULL_RUN_WEEKDAY)
    or once the last full run is a week old. Otherwise incremental."""
    policy = current_policy()

    def planned(kind, reason):
        return RunPlan(today=today, kind=kind, reason=reason, policy=policy)

    if full:
        return planned(RunKind.FULL, "requested")
    runs = SurveillanceRun.objects.order_by("-finished_at", "-id")
    last_full = runs.filter(kind=RunKind.FULL).first()
    if last_full is None:
        return planned(RunKind.FULL, "no full run yet")
    if last_full.policy_version != policy.version:
        return planned(
            RunKind.FULL, f"policy changed from v{last_full.policy_version} to v{policy.version}"
        )
    last = runs.first()
    if last.today > today:
        return planned(RunKind.FULL, f"date before the last run's ({last.today.isoformat()})")
    weekday = settings.SURVEILLANCE_FULL_RUN_WEEKDAY
    if weekday is not None:
        if today.weekday() == weekday:
            return planned(RunKind.FULL, "weekly")
        if today - last_full.today >= timedelta(days=7):
            return planned(RunKind.FULL, f"weekly (last full run {last_full.today.isoformat()})")
    return planned(RunKind.INCREMENTAL, "next change due or record changed")


# Who an incremental run evaluates, in two cheap reads. The states whose next change has come
# are a range of the next_change index; the marks are a small table. Patients without a
# verdict (written by a bulk load, which leaves no mark) are found without reading the cohort:
# a state's key is its patient's, so when there are as many states as patients every patient
# has one, and only a state never evaluated (a partial index of none, normally) lacks a
# verdict. Only when the counts differ are the patients anti-joined to the states.
_COHORT = """
    SELECT (SELECT count(*) FROM patients_patient),
           (SELECT count(*) FROM surveillance_surveillancestate)
"""
_DUE_OR_MARKED = """
    SELECT patient_id FROM surveillance_surveillancestate WHERE next_change <= %(today)s
    UNION
    SELECT patient_id FROM patients_pendingevaluation
    UNION
    SELECT patient_id FROM surveillance_surveillancestate WHERE evaluated_at IS NULL
"""
_WITHOUT_STATE = """
    UNION
    SELECT p.id FROM patients_patient AS p
    WHERE NOT EXISTS (SELECT FROM surveillance_surveillancestate AS s WHERE s.patient_id = p.id)
"""


@dataclass
class Selection:
    ids: list[int]  # ascending
    cohort: int  # patients in the cohort as the run chose


def select_patients(today: date, full: bool) -> Selection:
    """The patients a run for `today` evaluates (see `patients_to_evaluate`), and how many
    patients the cohort holds."""
    if full:
        ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
        return Selection(ids=ids, cohort=len(ids))
    with connection.cursor() as cursor:
        cursor.execute(_COHORT)
        patients, states = cursor.fetchone()
        sql = _DUE_OR_MARKED + (_WITHOUT_STATE if states != patients else "")
        cursor.execute(sql, {"today": today})
        ids = sorted(row[0] for row in cursor.fetchall())
    return Selection(ids=ids, cohort=patients)


def patients_to_evaluate(today: date, full: bool) -> list[int]:
    """The ids a run for `today` evaluates, ascending: everybody for a full run; otherwise
    the patients whose next change has come, who have an outbox mark (a change not yet
    evaluated, or an evaluation that failed), or who have no verdict yet."""
    return select_patients(today, full).ids


# The counts line of an incremental run: the cohort's totals as stored after the run, as a
# full run counts them. Both are index-only counts: the eligible end of (eligible,
# next_draw_due) and the partial unique index of planned draws.
_TOTALS = """
    SELECT (SELECT count(*) FROM surveillance_surveillancestate WHERE eligible),
           (SELECT count(*) FROM surveillance_draw WHERE status = %(planned)s)
"""


def cohort_totals() -> tuple[int, int]:
    """(eligible patients, planned draws) as stored now."""
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS, {"planned": DrawStatus.PLANNED})
        return cursor.fetchone()


@dataclass
class StartedRun:
    """A nightly run planned and its patients chosen, not yet evaluated."""

    plan: RunPlan
    ids: list[int]
    patients: int  # in the cohort
    started_at: datetime

    def as_message(self) -> dict:
        """What finishing the run needs, as JSON (a fanned-out run's chord callback): the
        plan, the cohort's size and the start time, not the ids."""
        plan = self.plan
        return {
            "today": plan.today.isoformat(), "kind": plan.kind, "reason": plan.reason,
            "policy_version": plan.policy.version, "patients": self.patients,
            "started_at": self.started_at.isoformat(),
        }  # fmt: skip

    @classmethod
    def from_message(cls, message: dict) -> "StartedRun":
        row = SurveillancePolicy.objects.filter(version=message["policy_version"]).first()
        policy = policy_from_row(row) if row is not None else rules.Policy()
        plan = RunPlan(
            today=date.fromisoformat(message["today"]), kind=message["kind"],
            reason=message["reason"], policy=policy,
        )  # fmt: skip
        return cls(
            plan=plan, ids=[], patients=message["patients"],
            started_at=datetime.fromisoformat(message["started_at"]),
        )  # fmt: skip


def start_run(*, today: date | None = None, full: bool = False) -> StartedRun:
    """Plan the run for `today` (`plan_run`) and choose its patients: the one way every
    nightly run, in-process or through the workers, decides whom it evaluates."""
    today = today or clinic_today()
    started_at = timezone.now()
    plan = plan_run(today, full=full)
    selection = select_patients(today, plan.full)
    return StartedRun(plan=plan, ids=selection.ids, patients=selection.cohort,
                      started_at=started_at)  # fmt: skip


def finish_run(started: StartedRun, stats: RunStats) -> NightlyRun:
    """Record a run whose patients have all been evaluated (a SurveillanceRun). In an
    incremental run `eligible` and `planned` become the cohort's totals as stored after the
    run (what a full run of the same day counts); `opened` and `resolved` stay what this run
    did."""
    plan = started.plan
    if not plan.full:
        stats.eligible, stats.planned = cohort_totals()
    SurveillanceRun.objects.create(
        today=plan.today, kind=plan.kind, reason=plan.reason,
        policy_version=plan.policy.version, started_at=started.started_at,
        finished_at=timezone.now(), evaluated=stats.evaluated,
        counts={k: v for k, v in stats.as_dict().items() if k != "failed_ids"},
    )  # fmt: skip
    return NightlyRun(plan=plan, patients=started.patients, stats=stats)


def run_nightly(*, today: date | None = None, full: bool = False, evaluate=None) -> NightlyRun:
    """The morning run (beat) and `run_surveillance`: full or incremental as `plan_run`
    decides, recorded as a SurveillanceRun once it completes (`start_run`, `finish_run`).
    `evaluate(ids, today=, policy=)` evaluates the chosen patients: in this process by
    default (`run_for_patients`), or through the Celery workers (surveillance.fanout)."""
    started = start_run(today=today, full=full)
    plan = started.plan
    stats = (evaluate or run_for_patients)(started.ids, today=plan.today, policy=plan.policy)
    return finish_run(started, stats)


def run_marked(*, today: date | None = None, limit: int = 5000) -> RunStats:
    """Evaluate patients marked by a committed change (the outbox sweep, patients/outbox.py)
    whose next attempt has come: a patient whose evaluation keeps failing is retried later
    and later (surveillance.marks), never ahead of the others."""
    return run_for_patients(marks.due(now=timezone.now(), limit=limit), today=today)


def run_after_change(patient_id: int, *, limit: int = AFTER_CHANGE_BATCH) -> RunStats:
    """The evaluation a committed change to `patient_id` asks for (patients/outbox.py): the
    patients whose marks are due, taken from the outbox (marks.claim) and evaluated together;
    this patient's is among them unless another run has it (more than `limit` marks waiting:
    the oldest go first, and every change's task takes the next batch). A burst of changes
    (a laboratory sending reports one after another) is thus evaluated in a few batches, each
    patient at a fraction of what a run of its own costs, and two workers never evaluate the
    same patients at once. Nothing is left to do when the patient's mark is gone or taken: a
    run answered it after reading the change (a mark is answered only as read), or a run
    under way has it."""
    ids = marks.claim(now=timezone.now(), limit=limit)
    if not ids:
        return RunStats()
    return run_for_patients(ids)


# --- One bad record never stops a run (SPEC 5.8) ---------------------------------------------
#
# A failure that can be one patient's is narrowed down to that patient, logged with its id and
# skipped; the run goes on and counts it (RunStats.failed). Failures that are no patient's
# stop the run (and the other stream) as before (`stops_the_run`).


def stops_the_run(error: BaseException) -> bool:
    """The database gone, refusing or cancelling (connection, resources, lock or statement
    timeouts, deadlocks: OperationalError), the SQL and the schema disagreeing (SQLSTATE
    class 42), no memory left: retrying patient by patient would only repeat it."""
    if isinstance(error, OperationalError | InterfaceError | MemoryError):
        return True
    return isinstance(error, ProgrammingError) and _sqlstate(error).startswith("42")


def _sqlstate(error: BaseException) -> str:
    return getattr(error.__cause__, "sqlstate", None) or ""


def _run_isolating(ids: list[int], *, today: date, policy: rules.Policy) -> RunStats:
    """_run_batch; if the batch fails, its patients again in halves, each half in its own
    transaction, until whoever fails stands alone.

    The batch's writes are set-wise, so a failing statement or loader takes the whole batch
    with it; the halving finds one failing patient among 2,000 in about 11 retries, re-running
    about two batches' worth of patients. Nothing of it happens unless a batch fails: a run
    without failures takes no savepoint and does no extra work."""
    try:
        return _run_batch(ids, today=today, policy=policy)
    except Exception as error:
        if stops_the_run(error):
            raise
        failure = error
    # The marks as they stand before the retries, which are the evaluations that fail: a
    # change committed after this read is not put off with them.
    before = marks.read(ids)
    alone: list[int] = []
    stats = _narrow_down(ids, failure, alone, today=today, policy=policy)
    marks.put_off({i: before[i] for i in alone if i in before}, now=timezone.now())
    return stats


def _narrow_down(ids, failure: Exception, alone: list[int], *, today: date, policy) -> RunStats:
    """`ids` failed together with `failure`: run each half, and narrow down a half that fails.
    A patient that fails alone is logged, counted and added to `alone`."""
    if len(ids) == 1:
        logger.error(
            "Surveillance evaluation of patient %s failed; skipped: %r", ids[0], failure,
            exc_info=failure,
        )  # fmt: skip
        alone.append(ids[0])
        return RunStats(failed=1, failed_ids=list(ids))
    stats = RunStats()
    half = len(ids) // 2
    for part in (ids[:half], ids[half:]):
        try:
            stats.add(_run_batch(part, today=today, policy=policy))
        except Exception as error:
            if stops_the_run(error):
                raise
            stats.add(_narrow_down(part, error, alone, today=today, policy=policy))
    return stats


def _evaluate(inputs, *, today: date, policy: rules.Policy) -> tuple[list, list[int]]:
    """The verdicts, and the ids of the patients whose evaluation raised (logged, skipped).

    The rules are pure, so a patient whose inputs break them is found here without reloading
    the batch: all at once first, one by one only when that raised."""
    try:
        return [rules.evaluate(p, today=today, policy=policy) for p in inputs], []
    except MemoryError:
        raise
    except Exception:  # noqa: S110 - found one by one below
        pass
    verdicts, failed = [], []
    for patient in inputs:
        try:
            verdicts.append(rules.evaluate(patient, today=today, policy=policy))
        except MemoryError:
            raise
        except Exception:
            logger.exception("Surveillance evaluation of patient %s failed; skipped", patient.id)
            failed.append(patient.id)
    return verdicts, failed


# --- One batch -------------------------------------------------------------------------------


# Patients are locked by bucket (id modulo this), not one lock each: a batch then holds at
# most this many advisory locks, well inside Postgres's shared lock table (64 per connection by
# default) even with several runs overlapping; two patients sharing a bucket merely wait.
LOCK_BUCKETS = 256


def _lock_patients(ids: list[int]) -> None:
    buckets = sorted({patient_id % LOCK_BUCKETS for patient_id in ids})
    with connection.cursor() as cursor:
        # unnest keeps the array order, so buckets are always locked in ascending order and
        # two runs can never deadlock on each other.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, bucket)) FROM unnest(%s::int[]) AS bucket",
            [LOCK_NAMESPACE, buckets],
        )


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector for one batch.

    A batch allocates a few hundred thousand short-lived, acyclic objects (rows, rules
    inputs, verdicts); each time enough pile up the collector walks all of them, which
    took a third of the load time, and re-enabling it while they were still alive cost a
    full pass per batch. Reference counting frees them as usual; any cycles wait for the
    next collection after the batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Models whose history the engine writes itself (see _own_history).
_SELF_AUDITED = (Draw, Alert)


@functools.cache
def _insert_and_update_triggers() -> str:
    """The pgtrigger names of the insert and update history triggers of _SELF_AUDITED."""
    names = history_trigger_ignore_list(pgtrigger.Insert, pgtrigger.Update, models=_SELF_AUDITED)
    if names.count(",") + 1 != 2 * len(_SELF_AUDITED):
        raise RuntimeError(f"expected insert and update history triggers, found {names}")
    return names


@contextmanager
def _own_history():
    """The engine's draw and alert writes record their history rows themselves.

    pghistory's row triggers cost about 40 us per row here (a subtransaction and a lock on
    the context row each time), which made the audit half the cost of a first run that
    plans 50,000 draws. Inside this block those triggers stand aside for the draws and
    alerts tables and every write statement (`_write` with `history=`) inserts the same
    history rows (same columns, label, context, time) in the same statement, set-wise
    (bulk.with_history, which takes the context from pghistory's private SQL function
    _pgh_attach_context()). The triggers stand aside through pgtrigger's `pgtrigger.ignore`
    setting, naming them by their pgtrigger ids, and only for the engine's own statements:
    the ignore list is transaction-local and is put back to the connection's empty list
    (config/settings.py) before the block ends (a failure rolls the whole batch back,
    setting included)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pgtrigger.ignore', %s, true)", [_insert_and_update_triggers()]
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")


def _run_batch(ids: list[int], *, today: date, policy: rules.Policy) -> RunStats:
    if not ids:
        return RunStats()
    with transaction.atomic(), pghistory.context(source="surveillance-engine"):
        _lock_patients(ids)
        # The marks are read before anything else: the change a mark stands for committed with
        # it, so the loads that follow see that change.
        seen_marks = marks.read(ids)
        stored = _stored_states(ids)
        batch = load_batch(ids, today=today)
        verdicts, failed = _evaluate(batch.inputs, today=today, policy=policy)
        stats = RunStats(evaluated=len(verdicts), failed=len(failed), failed_ids=failed)
        stats.eligible = sum(1 for v in verdicts if v.eligible)
        with _own_history():
            stats.planned = _reconcile_draws(verdicts, batch.planned)
            opened, resolved, updated = _reconcile_alerts(
                verdicts, batch.open_alerts, policy=policy
            )
        stats.opened, stats.resolved, stats.updated = opened, resolved, updated
        _store_states(verdicts, today=today, policy=policy, stored=stored)
        _refresh_programme_facts(seen_marks, verdicts, batch.open_alerts)
        if failed:
            marks.put_off(
                {i: seen_marks.pop(i) for i in failed if i in seen_marks}, now=timezone.now()
            )
        marks.answer(seen_marks)
    return stats


def _refresh_programme_facts(seen_marks, verdicts, open_alerts) -> None:
    """The programme figures' facts (surveillance/programme_facts.py) of the batch's patients
    whose facts may have changed, rewritten from their records in the batch's transaction:
    those whose record changed (marked: every write marks its patient) and those this batch
    opens an ESR1 alert for. The facts do not depend on the day, so a patient evaluated
    again with nothing new keeps them as they are."""
    changed = set(seen_marks)
    for verdict in verdicts:
        existing = open_alerts.get(verdict.patient_id, {})
        if any(
            spec.kind in ESR1_KINDS and (spec.kind, spec.subject) not in existing
            for spec in verdict.alerts
        ):
            changed.add(verdict.patient_id)
    programme_facts.refresh(changed)


# --- Reconciliation --------------------------------------------------------------------------
#
# Writes are set-based SQL whose input rows travel as one JSON array, unpacked by
# jsonb_to_recordset: one text parameter per statement. The ORM's bulk_create/bulk_update
# prepared every value of every row in Python and psycopg then quoted each array element,
# which cost more than Postgres spent writing. The statements still go through Django's
# cursor inside pghistory's context, and the draw and alert statements copy the rows they
# change into the history tables themselves (_own_history, bulk.with_history): every change
# is recorded. INSERTs give a value for every column of their model (bulk.Insert).


def _write(sql, rows: list[dict], *, history=None, **params) -> int:
    """Run one set-based write over `rows` (bound as %(rows)s); return the affected count.

    `sql` is a string or a bulk.Insert. With `history=(Model, label)` the statement must end
    in `RETURNING <alias>.*`; the rows it returns are copied into the model's history table
    in the same statement, as the pghistory trigger would have done row by row (see
    _own_history)."""
    if not rows:
        return 0
    if isinstance(sql, Insert):
        sql = sql.sql
    if history is not None:
        model, params["history_label"] = history
        sql = with_history(model, sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "rows": json.dumps(rows, separators=(",", ":"))})
        return cursor.rowcount


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


_CREATE_PLANNED = Insert(
    Draw,
    "d",
    {
        "patient_id": "t.patient_id", "status": "'planned'", "due_date": "t.due_date",
        "collected_on": "NULL", "assay": "''", "accession": "''", "pinned": "false",
        "cancel_reason": "''", "created_at": "%(now)s", "updated_at": "%(now)s",
    },
    """FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(patient_id bigint, due_date date)
    ON CONFLICT DO NOTHING
    RETURNING d.*""",
)  # fmt: skip
# A move or a cancel changes the draw only if it is still what the run read: planned, not
# pinned, at the date read (`was_due`). A repeat-test decision or a collection committed after
# the read, or while the statement waits for the row, wins; the mark it left re-evaluates the
# patient.
_MOVE_PLANNED = """
    UPDATE surveillance_draw AS d SET due_date = t.due_date, updated_at = %(now)s
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(id bigint, due_date date, was_due date)
    WHERE d.id = t.id AND d.status = 'planned' AND NOT d.pinned AND d.due_date = t.was_due
    RETURNING d.*
"""
_CANCEL_PLANNED = """
    UPDATE surveillance_draw AS d
    SET status = 'cancelled', cancel_reason = t.cancel_reason, updated_at = %(now)s
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(id bigint, cancel_reason text, was_due date)
    WHERE d.id = t.id AND d.status = 'planned' AND NOT d.pinned AND d.due_date = t.was_due
    RETURNING d.*
"""


def _reconcile_draws(verdicts, planned_by_patient) -> int:
    """At most one planned draw per patient, at the due date; cancelled when ineligible.

    A pinned draw (a clinician's repeat test, SPEC 5.6) is the clinician's: it keeps its date
    whatever the rules compute and whether or not the patient is still eligible, until it is
    collected or the clinician changes it. Returns how many patients have a planned draw."""
    to_create, to_move, to_cancel = [], [], []
    planned = 0
    for v in verdicts:
        existing = planned_by_patient.get(v.patient_id)
        if existing is not None and existing["pinned"]:
            planned += 1
        elif v.eligible and v.next_due_on is not None:
            planned += 1
            if existing is None:
                to_create.append({"patient_id": v.patient_id, "due_date": _iso(v.next_due_on)})
            elif existing["due_date"] != v.next_due_on:
                to_move.append(
                    {"id": existing["id"], "due_date": _iso(v.next_due_on),
                     "was_due": _iso(existing["due_date"])}
                )  # fmt: skip
        elif existing is not None:
            to_cancel.append(
                {"id": existing["id"], "cancel_reason": f"No longer eligible: {v.reason}",
                 "was_due": _iso(existing["due_date"])}
            )  # fmt: skip
    now = timezone.now()
    # A concurrent writer that won the one-planned-draw index keeps its row; ours is dropped.
    _write(_CREATE_PLANNED, to_create, now=now, history=(Draw, "insert"))
    _write(_MOVE_PLANNED, to_move, now=now, history=(Draw, "update"))
    _write(_CANCEL_PLANNED, to_cancel, now=now, history=(Draw, "update"))
    return planned


_ALERT_FIELDS = ("severity", "title", "rationale", "evidence", "result_ids")
_CREATE_ALERTS = Insert(
    Alert,
    "a",
    {
        "patient_id": "t.patient_id", "kind": "t.kind", "subject": "t.subject",
        "policy_version": "%(version)s", "severity": "t.severity", "title": "t.title",
        "rationale": "t.rationale", "evidence": "t.evidence", "result_ids": "t.result_ids",
        "status": "'open'", "created_at": "%(now)s", "updated_at": "%(now)s",
        "resolved_at": "NULL", "resolved_by_id": "NULL", "decision": "''",
        "decision_details": "'{}'::jsonb", "note": "''", "evidence_version": "1",
    },
    """FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS t(patient_id bigint, kind text, subject text, severity text, title text,
             rationale text, evidence jsonb, result_ids jsonb)
    ON CONFLICT DO NOTHING
    RETURNING a.*""",
)  # fmt: skip
_UPDATE_ALERTS = """
    UPDATE surveillance_alert AS a
    SET severity = t.severity, title = t.title, rationale = t.rationale, evidence = t.evidence,
        result_ids = t.result_ids, updated_at = %(now)s,
        -- A decision carries the version it was made on (services/decisions.py).
        evidence_version = a.evidence_version + (a.evidence IS DISTINCT FROM t.evidence)::int
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(id bigint, severity text, title text,
        rationale text, evidence jsonb, result_ids jsonb)
    WHERE a.id = t.id AND a.status = 'open'
    RETURNING a.*
"""
_RESOLVE_ALERTS = """
    UPDATE surveillance_alert AS a
    SET status = 'resolved', decision = 'auto', resolved_at = %(now)s, updated_at = %(now)s
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(id bigint)
    WHERE a.id = t.id AND a.status = 'open'
    RETURNING a.*
"""


def _reconcile_alerts(verdicts, open_alerts, *, policy: rules.Policy) -> tuple[int, int, int]:
    to_create, to_update, to_resolve = [], [], []
    for v in verdicts:
        existing = open_alerts.get(v.patient_id, {})
        wanted = {(spec.kind, spec.subject): spec for spec in v.alerts}
        for key, spec in wanted.items():
            values = {
                "severity": spec.severity, "title": spec.title, "rationale": spec.rationale,
                "evidence": spec.evidence, "result_ids": sorted(spec.result_ids),
            }  # fmt: skip
            current = existing.get(key)
            if current is None:
                to_create.append(
                    {"patient_id": v.patient_id, "kind": spec.kind, "subject": spec.subject,
                     **values}
                )  # fmt: skip
            elif any(current[f] != values[f] for f in _ALERT_FIELDS):
                if spec.kind == "esr1_switch":
                    # Results once listed stay listed: later positives are added, never dropped.
                    values["result_ids"] = sorted(
                        set(values["result_ids"]) | set(current["result_ids"])
                    )
                to_update.append({"id": current["id"], **values})
        for key, current in existing.items():
            # Logistics alerts clear themselves; ESR1 alerts wait for an oncologist.
            if key not in wanted and current["kind"] in LOGISTICS_KINDS:
                to_resolve.append({"id": current["id"]})
    now = timezone.now()
    # A concurrent writer that won the partial unique index keeps its row; ours is dropped.
    opened = _write(
        _CREATE_ALERTS, to_create, now=now, version=policy.version, history=(Alert, "insert")
    )
    updated = _write(_UPDATE_ALERTS, to_update, now=now, history=(Alert, "update"))
    resolved = _write(_RESOLVE_ALERTS, to_resolve, now=now, history=(Alert, "update"))
    return opened, resolved, updated


_STORE_STATES = Insert(
    SurveillanceState,
    "s",
    {
        "patient_id": "t.patient_id", "eligible": "t.eligible", "reason": "t.reason",
        "risk_level": "t.risk_level", "risk_factors": "t.risk_factors",
        "next_draw_due": "t.next_draw_due",
        "surveillance_treatment_id": "t.surveillance_treatment_id",
        "evaluated_for": "%(today)s", "evaluated_at": "%(now)s", "policy_version": "%(version)s",
        "next_change": "t.next_change",
    },
    """FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(patient_id bigint, eligible boolean,
        reason text, risk_level text, risk_factors jsonb, next_draw_due date,
        surveillance_treatment_id bigint, next_change date)
    ON CONFLICT (patient_id) DO UPDATE SET
        eligible = EXCLUDED.eligible, reason = EXCLUDED.reason,
        risk_level = EXCLUDED.risk_level, risk_factors = EXCLUDED.risk_factors,
        next_draw_due = EXCLUDED.next_draw_due,
        surveillance_treatment_id = EXCLUDED.surveillance_treatment_id,
        evaluated_for = EXCLUDED.evaluated_for, evaluated_at = EXCLUDED.evaluated_at,
        policy_version = EXCLUDED.policy_version, next_change = EXCLUDED.next_change""",
)  # fmt: skip


def _stored_states(ids: list[int]) -> dict[int, tuple]:
    """The stored verdict of each patient that has one (as `_verdict_row` words it)."""
    stored = {}
    for pid, evaluated_at, *verdict in fetch_rows(
        SurveillanceState.objects.filter(patient_id__in=any_id(ids)).order_by().values_list(
            "patient_id", "evaluated_at", "eligible", "reason", "risk_level", "risk_factors",
            "next_draw_due", "surveillance_treatment_id", "policy_version", "next_change",
        )
    ):  # fmt: skip
        if evaluated_at is not None:
            verdict[3] = from_json(verdict[3])
            stored[pid] = tuple(verdict)
    return stored


def _verdict_row(v: rules.Evaluation, policy: rules.Policy) -> tuple:
    return (
        v.eligible, v.reason, v.risk_level or "", list(v.risk_factors), v.next_due_on,
        v.surveillance_treatment_id, policy.version, v.next_change,
    )  # fmt: skip


def _store_states(verdicts, *, today: date, policy: rules.Policy, stored: dict) -> None:
    """Write the verdicts that differ from the stored ones; most do not change from one night
    to the next, and rewriting 100,000 identical rows cost a tenth of a run. evaluated_for
    and evaluated_at therefore tell when the verdict last changed (or was first made).
    next_change is part of the verdict: the incremental run selects patients by it."""
    states = [
        {
            "patient_id": v.patient_id,
            "eligible": v.eligible,
            "reason": v.reason,
            "risk_level": v.risk_level or "",
            "risk_factors": list(v.risk_factors),
            "next_draw_due": _iso(v.next_due_on),
            "surveillance_treatment_id": v.surveillance_treatment_id,
            "next_change": _iso(v.next_change),
        }
        for v in verdicts
        if stored.get(v.patient_id) != _verdict_row(v, policy)
    ]
    _write(_STORE_STATES, states, today=today, now=timezone.now(), version=policy.version)

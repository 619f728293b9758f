"""A surveillance run fanned out over the Celery workers.

`run_surveillance --via-workers` (and anything else that calls `run_via_workers`) splits the
patients of a run by lock bucket (surveillance.engine's advisory locks: patient id modulo
LOCK_BUCKETS) into shares of about one engine batch each, and sends every share as its own
`surveillance.run_share` task in one Celery group: every worker process, on every machine
reading the queue, takes shares until none is left. The caller waits for the group and adds
up the shares' RunStats, so it prints the same counts line as an in-process run.

Why by bucket: a share holds whole buckets, so two shares never wait for each other's locks,
and a share still takes its buckets' locks, so a share, the minute sweep, a per-patient task
or an in-process run that overlap stay apart as before.

Losing a worker loses nothing. A share is the engine's ordinary evaluation of a list of
patients, which is idempotent (re-running it opens, moves and resolves nothing twice). The
task is acknowledged late and requeued when its worker process dies
(CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST), so a share whose worker is killed
is delivered again to another worker. A share of up to one batch is one transaction: a
killed share left nothing behind and its redelivery reports exactly what it changed, so the
counts line is the in-process one. (A share is larger only when one bucket alone holds more
than a batch, about 512,000 patients; a killed share then keeps the batches it committed and
its redelivery counts only what was left.)

Every share decides under the policy version the run started with and the same `today`.
"""

import logging
from collections import defaultdict
from datetime import date

from celery import chord, current_app, group, shared_task
from django.conf import settings
from django.db import OperationalError

from patients.models import clinic_today
from surveillance import engine
from surveillance.models import SurveillancePolicy

logger = logging.getLogger(__name__)

SHARE_SIZE = engine.BATCH_SIZE
# How long the caller waits for the whole run before giving up on it (the shares go on).
WAIT_SECONDS = 3 * 3600


def shares(patient_ids, *, size: int = SHARE_SIZE) -> list[list[int]]:
    """The patients grouped by lock bucket into shares of whole buckets, each of at most
    `size` patients unless a single bucket holds more; buckets in ascending order, ids
    ascending within a share."""
    by_bucket: dict[int, list[int]] = defaultdict(list)
    for patient_id in sorted(set(patient_ids)):
        by_bucket[patient_id % engine.LOCK_BUCKETS].append(patient_id)
    result: list[list[int]] = []
    current: list[int] = []
    for bucket in sorted(by_bucket):
        members = by_bucket[bucket]
        if current and len(current) + len(members) > size:
            result.append(sorted(current))
            current = []
        current.extend(members)
    if current:
        result.append(sorted(current))
    return result


@shared_task(
    name="surveillance.run_share",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def run_share(patient_ids: list[int], today: str, policy_version: int) -> dict:
    """One share of a fanned-out run: these patients, as of `today`, under that policy."""
    row = SurveillancePolicy.objects.get(version=policy_version)
    stats = engine.run_for_patients(
        patient_ids, today=date.fromisoformat(today), policy=engine.policy_from_row(row)
    )
    return stats.as_dict()


def run_via_workers(
    patient_ids, *, today: date | None = None, policy=None, size: int | None = None,
    timeout: float = WAIT_SECONDS,
) -> engine.RunStats:  # fmt: skip
    """Evaluate these patients through the Celery workers under `policy` (default: the
    current one); wait for every share and return their RunStats added up. The caller must
    not be a Celery task (it waits on others)."""
    today = today or clinic_today()
    policy = policy or engine.current_policy()
    if size is None:
        size = getattr(settings, "SURVEILLANCE_SHARE_SIZE", SHARE_SIZE)
    parts = shares(patient_ids, size=size)
    if not parts:
        return engine.RunStats()
    patients = sum(len(part) for part in parts)
    engine.refresh_planner_stats_if_large(patients)  # what the last large run or load changed
    result = group(run_share.s(part, today.isoformat(), policy.version) for part in parts)()
    try:
        answers = result.get(timeout=timeout, interval=0.2)
    finally:
        result.forget()  # the shares' results were only for this wait
    stats = engine.RunStats()
    for answer in answers:
        stats.add(engine.RunStats(**answer))
    engine.refresh_planner_stats_if_large(patients)  # what this run changed, for the next one
    return stats


def run_all_via_workers(*, today: date | None = None) -> engine.RunStats:
    """Every patient, through the workers: engine.run_all fanned out (a full run, recorded
    as one)."""
    return engine.run_nightly(today=today, full=True, evaluate=run_via_workers).stats


def run_nightly_via_workers(*, today: date | None = None, full: bool = False):
    """engine.run_nightly, its chosen patients evaluated through the workers."""
    return engine.run_nightly(today=today, full=full, evaluate=run_via_workers)


def workers_answering(timeout: float = 2.0) -> int:
    """How many Celery workers answer a ping now."""
    return len(current_app.control.ping(timeout=timeout) or [])


# --- From beat or any task: a chord, nobody waiting ----------------------------------------------


@shared_task(name="surveillance.run_all_via_workers", ignore_result=True)
def run_all_via_workers_task(today: str | None = None, full: bool = True) -> int:
    """A run through the workers started from a task (beat can schedule it in place of
    `surveillance.run_all`): every patient, or with `full=False` the nightly run as
    `engine.plan_run` decides. Planned and its patients chosen by `engine.start_run`, as
    every other run; the shares go out as a chord whose callback (`run_finished`) adds up
    their counts, records the run and logs it, so no worker process sits waiting for the
    others. Returns the shares sent."""
    day = date.fromisoformat(today) if today else None
    started = engine.start_run(today=day, full=full)
    parts = shares(started.ids, size=getattr(settings, "SURVEILLANCE_SHARE_SIZE", SHARE_SIZE))
    if not parts:
        run_finished([], started.as_message())  # nobody to evaluate: recorded as done
        return 0
    engine.refresh_planner_stats_if_large(len(started.ids))  # what the last run or load changed
    plan = started.plan
    chord(run_share.s(part, plan.today.isoformat(), plan.policy.version) for part in parts)(
        run_finished.s(started.as_message())
    )
    return len(parts)


@shared_task(name="surveillance.run_nightly_via_workers", ignore_result=True)
def run_nightly_via_workers_task(today: str | None = None) -> int:
    """The morning run (`surveillance.run_nightly`) through the workers, as a chord: the
    patients whose verdict may have changed, everybody when plan_run says so."""
    return run_all_via_workers_task(today, full=False)


@shared_task(name="surveillance.run_finished", ignore_result=True)
def run_finished(answers: list[dict], run: dict | str) -> dict:
    """The chord's callback: the shares' counts added up and the run recorded
    (`engine.finish_run`), as an in-process run records itself. `run` is
    StartedRun.as_message().

    A bare date in place of `run` is still taken, and only logged: the first builds that
    fanned runs out, before runs were recorded, sent it. Nothing sends it now, but a chord's
    callback travels inside its shares' messages, which outlive a worker restart (acknowledged
    late), so a run through the workers still under way when such an installation upgrades
    ends here, on the new worker, with that shape. Refused, it would be an error in the log
    in place of the run's counts line."""
    stats = engine.RunStats()
    for answer in answers:
        stats.add(engine.RunStats(**answer))
    # What this run changed, for the next one.
    engine.refresh_planner_stats_if_large(stats.evaluated + stats.failed)
    if isinstance(run, str):  # see above: queued by an earlier build
        logger.info("Surveillance run for %s through the workers: %s", run, stats.summary())
        return stats.as_dict()
    nightly = engine.finish_run(engine.StartedRun.from_message(run), stats)
    logger.info("Surveillance %s, through the workers: %s", nightly.describe(), stats.summary())
    return stats.as_dict()

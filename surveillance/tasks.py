"""Celery tasks: look up by id, call the engine, nothing else.

Nobody waits on these results, so none is stored: sending a task then never touches the
result backend, and a Redis outage cannot stall the web request that enqueues it.
"""

import logging
from datetime import date

from celery import shared_task
from django.db import OperationalError

from patients import outbox
from patients.models import clinic_today
from surveillance import digests, engine, planner_stats
from surveillance.fanout import run_share  # noqa: F401 - registers the fanned-out run's share

logger = logging.getLogger(__name__)


@shared_task(
    name="surveillance.evaluate_patient",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def evaluate_patient(patient_id: int, after_change: bool = False) -> dict:
    if after_change:  # sent by the outbox after a committed change (patients/outbox.py)
        outbox.evaluation_starting()  # before the marks are taken: see outbox.SCHEDULED_KEY
        stats = engine.run_after_change(patient_id)
        if stats.evaluated + stats.failed >= engine.AFTER_CHANGE_BATCH:
            # A full batch: more marks may be due, and the changes that made them may have
            # sent no task of their own.
            outbox.enqueue_evaluation(patient_id)
        return stats.as_dict()
    return engine.run_for_patients([patient_id]).as_dict()


@shared_task(name="surveillance.sweep_marked", ignore_result=True)
def sweep_marked() -> dict:
    """The minute sweep: marked patients, then the planner's statistics of the tables that
    changed by a tenth since last analysed (surveillance.planner_stats), here in the
    background rather than in the nightly run."""
    stats = engine.run_marked()
    planner_stats.refresh()
    return stats.as_dict()


@shared_task(name="surveillance.run_all", ignore_result=True)
def run_all() -> dict:
    return engine.run_all().as_dict()


@shared_task(name="surveillance.run_nightly", ignore_result=True)
def run_nightly() -> dict:
    """The morning run (beat): incremental, or full when its day has come (engine.plan_run)."""
    run = engine.run_nightly()
    logger.info("Surveillance %s", run.describe())
    return {"kind": run.plan.kind, "reason": run.plan.reason, **run.stats.as_dict()}


@shared_task(
    bind=True,
    name="surveillance.send_digests",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=digests.RETRY_FIRST_SECONDS,
    retry_backoff_max=digests.RETRY_MAX_SECONDS,
    max_retries=digests.MAX_RETRIES,
)
def send_digests(self, day: str | None = None, user_ids: list[int] | None = None) -> dict:
    """The morning digests (beat, no arguments: today's, to everyone), then retries.

    One task for the whole run, retried with only the users still owed their digest, rather
    than a task per user: the run reads the draws and alerts once for everybody, its counts
    (sent, failed, skipped) describe the morning in one log line, and each user is isolated
    inside it anyway (surveillance/digests.py). A retry carries the day, so a digest that
    goes out late still counts as that day's and is claimed against it.
    """
    run = digests.send_daily_digests(
        day=date.fromisoformat(day) if day else clinic_today(), user_ids=user_ids
    )
    counts = run.as_dict()
    logger.info("Digests for %s: %s", run.day, counts)
    if run.retry_user_ids:
        if self.request.retries >= self.max_retries:
            logger.error(
                "Digests for %s given up after %s retries for users %s",
                run.day, self.request.retries, run.retry_user_ids,
            )  # fmt: skip
        else:
            raise self.retry(
                kwargs={"day": run.day.isoformat(), "user_ids": run.retry_user_ids},
                countdown=digests.retry_countdown(
                    self.request.retries, claimed_elsewhere=run.claimed_elsewhere
                ),
            )
    return counts

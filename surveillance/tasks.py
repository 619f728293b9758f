"""Celery tasks: look up by id, call the engine, nothing else.

Nobody waits on these results, so none is stored: sending a task then never touches the
result backend, and a Redis outage cannot stall the web request that enqueues it.
"""

from celery import shared_task
from django.db import OperationalError

from surveillance import engine


@shared_task(
    name="surveillance.evaluate_patient",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def evaluate_patient(patient_id: int) -> dict:
    return engine.run_for_patients([patient_id]).as_dict()


@shared_task(name="surveillance.sweep_marked", ignore_result=True)
def sweep_marked() -> dict:
    return engine.run_marked().as_dict()


@shared_task(name="surveillance.run_all", ignore_result=True)
def run_all() -> dict:
    return engine.run_all().as_dict()


@shared_task(name="surveillance.send_digests", ignore_result=True)
def send_digests() -> dict:
    from surveillance import digests

    return digests.send_daily_digests()

"""Re-evaluation after a change to a patient's record (a transactional outbox).

Every clinical write calls `patient_changed` inside its transaction. The mark (a
PendingEvaluation row) commits with the change itself; the Celery message is only sent
after the commit. If the message is lost (Redis down, process killed between commit and
send), the minute sweep (`surveillance.engine.run_marked`) still finds the mark, so no
change goes unevaluated. The engine deletes a mark only if it is still the one it read, so
a change committed while a run is evaluating the patient keeps its mark; a patient whose
evaluation fails keeps its mark too, retried later and later (surveillance/marks.py).

The task is sent by its registered name: a patient's record says that it changed, not who
evaluates it. `surveillance` builds on `patients`, never the other way round.
"""

import logging

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from config.celery import app
from patients.models import PendingEvaluation

logger = logging.getLogger(__name__)

# The name surveillance.tasks.evaluate_patient is registered under.
EVALUATE_PATIENT_TASK = "surveillance.evaluate_patient"
# The evaluation after a change starts this long after the commit, so that the changes of a
# burst (a laboratory sending report after report) are evaluated together, one batch for
# many patients (surveillance.engine.run_after_change), at a fraction of the cost of one run
# each; an alert still opens within about a second of the result.
EVALUATION_DELAY_SECONDS = 0.3
# While an evaluation after a change is scheduled and has not yet taken the due marks, a
# further change sends no task of its own: its mark, committed before it asks, is among the
# marks that evaluation takes. Without this a steady stream of imports sent one task per
# import, each of which found only the one or two marks committed since the last, so every
# import paid a whole batch's fixed cost (about 5 ms of the worker's CPU) and a task's. The
# task clears the flag as it starts, before it takes the marks (`evaluation_starting`); the
# flag lapses by itself after this long, should the task be lost (the minute sweep still has
# the marks).
SCHEDULED_KEY = "outbox:evaluation-scheduled"
SCHEDULED_SECONDS = 3


def patient_changed(patient_id: int) -> None:
    # A change is due at once, even for a patient whose evaluation has been failing: it may
    # be the correction.
    now = timezone.now()
    PendingEvaluation.objects.bulk_create(
        [PendingEvaluation(patient_id=patient_id, marked_at=now, attempts=0, next_attempt_at=now)],
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=["marked_at", "attempts", "next_attempt_at"],
    )
    if not _enqueued_in_this_transaction(patient_id):
        # An import records a draw and then its result: one evaluation after the commit
        # covers both.
        transaction.on_commit(_Enqueue(patient_id))


class _Enqueue:
    """The evaluation a transaction asks for once it commits, known by its patient."""

    def __init__(self, patient_id: int) -> None:
        self.patient_id = patient_id

    def __call__(self) -> None:
        enqueue_evaluation(self.patient_id)


def _enqueued_in_this_transaction(patient_id: int) -> bool:
    """Whether the transaction under way will send this patient's evaluation already (a
    savepoint rolled back takes the sends it asked for with it)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return False
    return any(
        isinstance(func, _Enqueue) and func.patient_id == patient_id
        for _, func, *_ in connection.run_on_commit
    )


def enqueue_evaluation(patient_id: int) -> bool:
    try:
        if not cache.add(SCHEDULED_KEY, patient_id, timeout=SCHEDULED_SECONDS):
            return True  # an evaluation not yet started will take this patient's mark
    except Exception:  # noqa: BLE001 - without the flag, send the task as before
        logger.warning("could not read the scheduled-evaluation flag; sending the task")
    try:
        # No retries here: a web request must not hang on a broker that is down. No result
        # either: nobody waits for one, and asking for it would touch the result backend.
        # `after_change`: the worker may evaluate the patient with others marked meanwhile,
        # and has nothing to do if a run has answered the mark already.
        app.send_task(
            EVALUATE_PATIENT_TASK,
            args=[patient_id],
            kwargs={"after_change": True},
            countdown=EVALUATION_DELAY_SECONDS,
            retry=False,
            ignore_result=True,
        )
    except Exception:  # noqa: BLE001 - the sweep picks the patient up
        logger.warning("could not enqueue evaluation of patient %s; the sweep will", patient_id)
        evaluation_starting()  # nothing is scheduled: the next change tries again
        return False
    return True


def evaluation_starting() -> None:
    """An evaluation after a change is about to take the due marks: a change from now on
    schedules the next one (called by the task before it takes them)."""
    try:
        cache.delete(SCHEDULED_KEY)
    except Exception:  # noqa: BLE001 - the flag lapses by itself
        logger.warning("could not clear the scheduled-evaluation flag")

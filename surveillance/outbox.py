"""Re-evaluation after a change to a patient's record.

Every clinical write calls `patient_changed` inside its transaction. The flag on
SurveillanceState commits with the change itself; the Celery message is only sent
after the commit. If the message is lost (Redis down, process killed between commit
and send), the minute sweep still finds the flag, so no change goes unevaluated.
"""

import logging

from django.db import transaction
from django.utils import timezone

from surveillance.models import SurveillanceState

logger = logging.getLogger(__name__)


def patient_changed(patient_id: int) -> None:
    now = timezone.now()
    SurveillanceState.objects.bulk_create(
        [SurveillanceState(patient_id=patient_id, needs_evaluation=True, marked_at=now)],
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=["needs_evaluation", "marked_at"],
    )
    transaction.on_commit(lambda: enqueue_evaluation(patient_id))


def enqueue_evaluation(patient_id: int) -> bool:
    from surveillance.tasks import evaluate_patient

    try:
        # No retries here: a web request must not hang on a broker that is down.
        evaluate_patient.apply_async(args=[patient_id], retry=False)
    except Exception:  # noqa: BLE001 - the sweep picks the patient up
        logger.warning("could not enqueue evaluation of patient %s; the sweep will", patient_id)
        return False
    return True

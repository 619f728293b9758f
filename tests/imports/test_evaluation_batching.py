"""A laboratory sending report after report: the imports of a burst are evaluated together.

Each import marks its patient (patients/outbox.py) and, once committed, asks for an evaluation
after the change. While one is scheduled and has not started, a further import sends no task
of its own: that evaluation takes every due mark. So a burst costs the worker one batch, not
one per report, and no report is left unevaluated."""

from datetime import date

import pytest

from patients import outbox
from patients.models import PendingEvaluation
from surveillance import tasks
from surveillance.models import SurveillanceState
from tests.factories import PatientFactory, TreatmentFactory, days
from tests.imports.test_pipeline import report, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """The evaluation tasks the outbox sends (patient ids), none scheduled to begin with."""
    calls = []
    monkeypatch.setattr(outbox.app, "send_task", lambda name, args, **kwargs: calls.append(args[0]))
    outbox.evaluation_starting()
    yield calls
    outbox.evaluation_starting()


def eligible(mrn: str):
    patient = PatientFactory(mrn=mrn, birth_date=date(1960, 3, 1), enrolled_on=days(-200))
    TreatmentFactory(patient=patient, start_date=days(-90))
    return patient


def import_and_commit(lab, capture, mrn: str, n: int):
    with capture(execute=True):
        message = send(lab, report(mrn=mrn, report_id=f"B-{n}", accession=f"B-ACC-{n}"))
    assert message.state == "imported"


def test_a_burst_of_imports_sends_one_evaluation_that_takes_every_patient(
    lab, sent, django_capture_on_commit_callbacks
):
    patients = [eligible(f"BURST-{n}") for n in range(3)]
    for n, patient in enumerate(patients):
        import_and_commit(lab, django_capture_on_commit_callbacks, patient.mrn, n)

    assert sent == [patients[0].pk]  # the later two rely on the scheduled one
    assert PendingEvaluation.objects.count() == 3

    stats = tasks.evaluate_patient.apply(args=sent, kwargs={"after_change": True}).get()

    assert stats["evaluated"] == 3
    assert set(SurveillanceState.objects.values_list("patient_id", flat=True)) >= {
        p.pk for p in patients
    }
    assert not PendingEvaluation.objects.exists()

    # Once that evaluation has started, the next import schedules the next one.
    later = eligible("BURST-LATER")
    import_and_commit(lab, django_capture_on_commit_callbacks, later.mrn, 9)
    assert sent == [patients[0].pk, later.pk]


def test_a_send_that_fails_leaves_nothing_scheduled(monkeypatch, sent):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(outbox.app, "send_task", broker_down)
    assert outbox.enqueue_evaluation(1) is False  # the minute sweep has the mark

    monkeypatch.setattr(outbox.app, "send_task", lambda name, args, **kwargs: sent.append(args[0]))
    assert outbox.enqueue_evaluation(2) is True
    assert sent == [2]  # not held back by the send that failed

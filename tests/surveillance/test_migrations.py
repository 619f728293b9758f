"""Migrations that move data: what was stored before is still there after, both ways."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.factories import PatientFactory

BEFORE = [
    ("patients", "0006_treatment_line_number_range"),
    ("surveillance", "0004_alert_open_logistics_order_index"),
]
AFTER = [("surveillance", "0005_outbox_marks_move_to_patients")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_unanswered_outbox_marks_move_to_patients_and_back():
    marked, answered, never_marked = PatientFactory(), PatientFactory(), PatientFactory()
    marked_at = timezone.now() - timedelta(minutes=3)
    apps = migrate(BEFORE)
    try:
        state = apps.get_model("surveillance", "SurveillanceState")
        state.objects.create(patient_id=marked.pk, needs_evaluation=True, marked_at=marked_at)
        state.objects.create(patient_id=answered.pk, needs_evaluation=False, marked_at=marked_at)

        apps = migrate(AFTER)
        pending = apps.get_model("patients", "PendingEvaluation")
        assert dict(pending.objects.values_list("patient_id", "marked_at")) == {
            marked.pk: marked_at
        }

        pending.objects.create(patient_id=never_marked.pk, marked_at=marked_at)
        apps = migrate(BEFORE)
        state = apps.get_model("surveillance", "SurveillanceState")
        assert set(state.objects.values_list("patient_id", "needs_evaluation", "marked_at")) == {
            (marked.pk, True, marked_at),
            (answered.pk, False, None),  # an answered mark's time is not kept
            (never_marked.pk, True, marked_at),
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

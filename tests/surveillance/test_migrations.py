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


OLD_WORDS = {
    "esr1_switch": (
        "ESR1 D538G 0.4% in result 9 (reported 2026-05-31, draw 3 collected 2026-05-26,"
        " Guardant360 CDx). ESR1 mutation detected in ctDNA on first-line AI + CDK4/6 without"
        " documented progression (SPEC rule 5, policy v2); current treatment letrozole +"
        " palbociclib since 2026-01-05. Consider switching the aromatase inhibitor to a SERD"
        " (camizestrant in SERENA-6) and continuing the CDK4/6 inhibitor, after confirming there"
        " is no radiographic progression.",
        "ESR1 D538G 0.4% in result 9 (reported 2026-05-31, draw 3 collected 2026-05-26,"
        " Guardant360 CDx). ESR1 mutation detected in ctDNA on first-line AI + CDK4/6 without"
        " documented progression; current treatment letrozole + palbociclib since 2026-01-05."
        " Consider switching the aromatase inhibitor to a SERD (camizestrant in SERENA-6) and"
        " continuing the CDK4/6 inhibitor, after confirming there is no radiographic progression."
        " Rule: ESR1 mutation on first-line AI + CDK4/6 inhibitor before progression"
        " (policy v2).",
    ),
    "esr1_vus_review": (
        "Result 9 (reported 2026-05-31, draw 3 collected 2026-05-26, Guardant360 CDx) lists"
        " ESR1 A593D (0.8%), not on the known activating list (SPEC section 4), so the result"
        " counts as ESR1 not detected (SPEC rule 5, policy v1). Review by the oncologist or"
        " molecular tumour board.",
        "Result 9 (reported 2026-05-31, draw 3 collected 2026-05-26, Guardant360 CDx) lists"
        " ESR1 A593D (0.8%), not on the known activating list, so the result counts as ESR1 not"
        " detected. Review by the oncologist or molecular tumour board. Rule: ESR1 variant"
        " outside the known activating ligand-binding-domain mutations (policy v1).",
    ),
    "draw_due": (
        "Next ctDNA draw due 2026-06-19 (in 4 days): first draw: treatment start 2026-04-24 +"
        " 56 days. Shown from 7 days before to 14 days after the due date (SPEC rule 5,"
        " policy v1).",
        "Next ctDNA draw due 2026-06-19 (in 4 days): first draw: treatment start 2026-04-24 +"
        " 56 days. Shown from 7 days before to 14 days after the due date. Rule: ctDNA draw"
        " coming due (policy v1).",
    ),
}


@pytest.mark.django_db(transaction=True)
def test_open_alerts_stop_citing_the_specification_and_resolved_ones_keep_their_words():
    patient = PatientFactory()
    before = [("surveillance", "0009_policy_v1_note_in_plain_words")]
    after = [("surveillance", "0010_open_alert_words_without_spec_citations")]
    apps = migrate(before)
    try:
        alert_model = apps.get_model("surveillance", "Alert")
        common = {"patient_id": patient.pk, "severity": "low", "title": "t", "policy_version": 1}
        open_ids = {
            kind: alert_model.objects.create(kind=kind, rationale=old, **common).pk
            for kind, (old, _) in OLD_WORDS.items()
        }
        old = OLD_WORDS["esr1_switch"][0]
        resolved = alert_model.objects.create(
            kind="esr1_switch", rationale=old, status="resolved", decision="deferred",
            resolved_at=timezone.now(), subject="decided", **common,
        )  # fmt: skip

        apps = migrate(after)
        alert_model = apps.get_model("surveillance", "Alert")
        for kind, (_, new) in OLD_WORDS.items():
            assert alert_model.objects.get(pk=open_ids[kind]).rationale == new
        assert alert_model.objects.get(pk=resolved.pk).rationale == old
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

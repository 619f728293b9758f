"""The re-evaluation marks (the outbox) move from SurveillanceState to patients'
PendingEvaluation, so that a write to a patient's record no longer touches a surveillance
table. Marks not yet answered are carried over with their time; backwards, they come back."""

from django.db import migrations
from django.utils import timezone


def carry_marks_over(apps, schema_editor):
    state = apps.get_model("surveillance", "SurveillanceState")
    pending = apps.get_model("patients", "PendingEvaluation")
    now = timezone.now()
    marks = state.objects.filter(needs_evaluation=True).values_list("patient_id", "marked_at")
    pending.objects.bulk_create(
        (pending(patient_id=pid, marked_at=marked_at or now) for pid, marked_at in marks),
        batch_size=5000,
        ignore_conflicts=True,
    )


def carry_marks_back(apps, schema_editor):
    state = apps.get_model("surveillance", "SurveillanceState")
    pending = apps.get_model("patients", "PendingEvaluation")
    # The restored column defaults every row to "needs evaluation"; only the marks are.
    state.objects.update(needs_evaluation=False)
    for pid, marked_at in pending.objects.values_list("patient_id", "marked_at").iterator():
        state.objects.update_or_create(
            patient_id=pid, defaults={"needs_evaluation": True, "marked_at": marked_at}
        )


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0007_pending_evaluation"),
        ("surveillance", "0004_alert_open_logistics_order_index"),
    ]

    operations = [
        migrations.RunPython(carry_marks_over, carry_marks_back),
        migrations.RemoveIndex(
            model_name="surveillancestate",
            name="state_dirty_idx",
        ),
        migrations.RemoveField(
            model_name="surveillancestate",
            name="marked_at",
        ),
        migrations.RemoveField(
            model_name="surveillancestate",
            name="needs_evaluation",
        ),
    ]

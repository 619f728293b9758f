# One sample is one draw: at most one collected or resulted draw per patient, collection day
# and assay. A database that already holds such a pair (a double-submitted form before this
# rule) cannot take the constraint; the migration stops and names the draws to settle by hand,
# rather than choosing which of two clinical records to cancel.

from django.db import migrations, models
from django.db.models import Count

LISTED = 20  # groups named in the message; the count gives the rest


def refuse_duplicates(apps, schema_editor):
    Draw = apps.get_model("surveillance", "Draw")
    groups = list(
        Draw.objects.filter(status__in=["collected", "resulted"])
        .values("patient_id", "collected_on", "assay")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("patient_id", "collected_on", "assay")
    )
    if not groups:
        return
    lines = []
    for group in groups[:LISTED]:
        draws = Draw.objects.filter(
            patient_id=group["patient_id"],
            collected_on=group["collected_on"],
            assay=group["assay"],
            status__in=["collected", "resulted"],
        ).order_by("id")
        described = ", ".join(
            f"draw {d.id} ({d.status}{', accession ' + d.accession if d.accession else ''})"
            for d in draws
        )
        lines.append(
            f"  patient {group['patient_id']}, collected {group['collected_on']}, "
            f"{group['assay']}: {described}"
        )
    if len(groups) > LISTED:
        lines.append(f"  ... and {len(groups) - LISTED} more")
    raise RuntimeError(
        f"Cannot add the rule 'one draw per patient, collection day and assay': "
        f"{len(groups)} sample(s) are recorded as more than one draw:\n"
        + "\n".join(lines)
        + "\nFor each, keep the draw that carries the result (or the first one) and cancel the "
        "others with their reason (the draw's Cancel action, or "
        "POST /api/v1/draws/{id}/cancel/ with a reason such as 'recorded twice'), then run "
        "the migrations again."
    )


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0007_pending_evaluation'),
        ('surveillance', '0012_policy_switch_scan_days'),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='draw',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['collected', 'resulted'])), fields=('patient', 'collected_on', 'assay'), name='draw_once_per_patient_day_assay'),
        ),
    ]

from django.contrib.postgres.constraints import ExclusionConstraint
from django.db import migrations, models

import patients.models


class Migration(migrations.Migration):
    """Databases migrated before 0001 was changed hold the btree_gist form of the no-overlap
    constraint; rebuild it in the range-only form (a no-op rebuild on new databases)."""

    dependencies = [("patients", "0003_patientaccess_append_only")]

    operations = [
        migrations.RemoveConstraint(model_name="treatment", name="treatment_metastatic_no_overlap"),
        migrations.AddConstraint(
            model_name="treatment",
            constraint=ExclusionConstraint(
                condition=models.Q(("setting", "metastatic")),
                expressions=[
                    (patients.models.Int8Range("patient", "patient", models.Value("[]")), "&&"),
                    (patients.models.DateRange("start_date", "end_date", models.Value("[)")), "&&"),
                ],
                name="treatment_metastatic_no_overlap",
            ),
        ),
    ]

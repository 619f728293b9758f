from django.db import migrations


def load_profiles(apps, schema_editor):
    from surveillance.assays import PROFILES

    AssayProfile = apps.get_model("surveillance", "AssayProfile")
    for code, name, limit in PROFILES:
        # An existing row keeps what an administrator entered.
        AssayProfile.objects.get_or_create(
            code=code, defaults={"name": name, "limit_of_detection_pct": limit}
        )


class Migration(migrations.Migration):
    """One profile per assay code, with a starting limit of detection for the laboratory to
    confirm (surveillance/assays.py)."""

    dependencies = [("surveillance", "0007_assay_profile")]
    operations = [migrations.RunPython(load_profiles, migrations.RunPython.noop)]

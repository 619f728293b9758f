from django.db import migrations


def sync_groups(apps, schema_editor):
    from accounts.services import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    """Administrators keep the assays' limits of detection (surveillance.AssayProfile)."""

    dependencies = [
        ("accounts", "0006_hashed_backup_codes_interface_group"),
        ("surveillance", "0008_assay_profile_starting_limits"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]

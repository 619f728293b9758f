from django.db import migrations


def sync_groups(apps, schema_editor):
    from accounts.services import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    """Administrators read who read the audit trail (patients.AuditTrailRead)."""

    dependencies = [
        ("accounts", "0007_role_groups_assay_profiles"),
        ("patients", "0009_access_path_audit_reads"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]

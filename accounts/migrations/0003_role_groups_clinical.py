from django.db import migrations


def sync_groups(apps, schema_editor):
    from accounts.services import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_role_groups"),
        ("patients", "0002_drug_catalogue"),
        ("surveillance", "0002_policy_v1"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]

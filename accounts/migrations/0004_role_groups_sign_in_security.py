from django.db import migrations


def sync_groups(apps, schema_editor):
    from accounts.services import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    """Administrators read lockouts and unlock users (axes); the DRF token admin, which
    showed keys, is gone, so its permissions go too."""

    dependencies = [
        ("accounts", "0003_role_groups_clinical"),
        ("axes", "0010_accessattemptexpiration"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]

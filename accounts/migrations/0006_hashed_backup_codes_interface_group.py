from django.db import migrations


def hash_backup_codes(apps, schema_editor):
    """Backup codes kept in plain text by django-otp (StaticToken) become salted hashes
    (BackupCode) of the same device; the plain text goes. Codes already handed out keep
    working."""
    from accounts.models import backup_code_hash

    StaticToken = apps.get_model("otp_static", "StaticToken")
    BackupCode = apps.get_model("accounts", "BackupCode")
    plain = StaticToken.objects.all()
    BackupCode.objects.bulk_create(
        BackupCode(device_id=token.device_id, code_hash=backup_code_hash(token.token))
        for token in plain.iterator()
    )
    plain.delete()


def drop_drf_tokens(apps, schema_editor):
    """DRF's plain-text, never-expiring tokens are gone with rest_framework.authtoken (API
    tokens are now accounts.ApiToken, stored hashed): its table, and its permissions."""
    schema_editor.execute("DROP TABLE IF EXISTS authtoken_token")
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="authtoken").delete()


def sync_groups(apps, schema_editor):
    from accounts.services import sync_role_groups

    sync_role_groups(apps)  # the interface role's group


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_tokens_roles_audit"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(hash_backup_codes, migrations.RunPython.noop),
        migrations.RunPython(drop_drf_tokens, migrations.RunPython.noop),
        migrations.RunPython(sync_groups, migrations.RunPython.noop),
    ]

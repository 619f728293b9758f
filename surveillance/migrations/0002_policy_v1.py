from django.db import migrations


def create_policy_v1(apps, schema_editor):
    Policy = apps.get_model("surveillance", "SurveillancePolicy")
    if not Policy.objects.exists():
        Policy.objects.create(version=1, note="SPEC section 5 defaults")


class Migration(migrations.Migration):
    dependencies = [("surveillance", "0001_initial")]
    operations = [migrations.RunPython(create_policy_v1, migrations.RunPython.noop)]

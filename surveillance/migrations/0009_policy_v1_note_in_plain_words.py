from django.db import migrations

OLD_NOTE = "SPEC section 5 defaults"
NEW_NOTE = "Starting defaults of the surveillance programme"


def reword(apps, schema_editor):
    # The note is shown to clinicians on the policy page, and clinicians never see the
    # specification it cited. Only the untouched initial note is reworded.
    Policy = apps.get_model("surveillance", "SurveillancePolicy")
    Policy.objects.filter(version=1, note=OLD_NOTE).update(note=NEW_NOTE)


def restore(apps, schema_editor):
    Policy = apps.get_model("surveillance", "SurveillancePolicy")
    Policy.objects.filter(version=1, note=NEW_NOTE).update(note=OLD_NOTE)


class Migration(migrations.Migration):
    dependencies = [("surveillance", "0008_assay_profile_starting_limits")]
    operations = [migrations.RunPython(reword, restore)]

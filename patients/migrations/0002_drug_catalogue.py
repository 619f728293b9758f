from django.db import migrations


def load_catalogue(apps, schema_editor):
    from patients.drugs import CATALOGUE

    Drug = apps.get_model("patients", "Drug")
    for code, name, drug_class, note in CATALOGUE:
        Drug.objects.update_or_create(
            code=code, defaults={"name": name, "drug_class": drug_class, "status_note": note}
        )


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]
    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]

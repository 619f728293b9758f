from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SurveillanceConfig(AppConfig):
    name = "surveillance"
    verbose_name = "Surveillance"

    def ready(self):
        post_migrate.connect(_programme_facts_from_records, sender=self)


def _programme_facts_from_records(sender, using="default", **kwargs):
    """A database that has patients but no programme facts yet (one upgraded to the version
    that keeps them) gets them built from its records once, after every migration has run, so
    the metrics are right from the first start without a manual step."""
    from django.db import connections

    from patients.models import Patient
    from surveillance import programme_facts
    from surveillance.models import ProgrammeFact

    if using != "default" or ProgrammeFact.objects.using(using).exists():
        return
    if not Patient.objects.using(using).exists():
        return
    with connections[using].cursor():
        programme_facts.rebuild()

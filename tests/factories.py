"""Test data builders. Dates are relative to the suite's fixed "today" (tests.services owns
the clock: `--today` moves the whole run to another date; the pure rules are tested with
their own fixed date)."""

from datetime import date, timedelta
from decimal import Decimal

import factory

from accounts.models import User
from patients.models import Appointment, Assessment, Patient, Treatment
from surveillance.models import Draw, Result, Variant
from tests.services import suite_today

TODAY = suite_today()


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"onc{n}")
    role = "oncologist"
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Osei{n}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = factory.Sequence(lambda n: f"Given{n}")
    family_name = factory.Sequence(lambda n: f"Family{n}")
    birth_date = date(1960, 3, 1)
    sex = "female"
    er_status = "positive"
    pr_status = "positive"
    her2_status = "negative"
    metastatic_diagnosis_date = days(-200)
    metastatic_sites = factory.LazyFunction(lambda: ["bone"])
    oncologist = factory.SubFactory(UserFactory)
    enrolled_on = days(-200)


class TreatmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Treatment

    patient = factory.SubFactory(PatientFactory)
    line_number = 1
    setting = "metastatic"
    endocrine_therapy_id = "letrozole"
    cdk46_inhibitor_id = "palbociclib"
    start_date = days(-100)
    end_date = None
    end_reason = ""


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assessment

    patient = factory.SubFactory(PatientFactory)
    date = days(-10)
    modality = "ct"
    response = "SD"


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    date = days(10)
    kind = "clinic"


class DrawFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Draw

    patient = factory.SubFactory(PatientFactory)
    status = "collected"
    collected_on = days(-20)
    assay = "guardant360_cdx"
    accession = factory.Sequence(lambda n: f"ACC{n:07d}")


class ResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Result

    draw = factory.SubFactory(DrawFactory, status="resulted")
    reported_on = days(-10)
    status = "final"
    esr1_status = "not_detected"


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    result = factory.SubFactory(ResultFactory, esr1_status="detected")
    gene = "ESR1"
    protein_change = "p.Asp538Gly"
    short = "D538G"
    vaf_percent = Decimal("0.8")
    esr1_activating = True
    esr1_vus = False


def esr1_positive_patients(n: int) -> list[int]:
    """`n` eligible patients on first-line AI + CDK4/6 inhibitor, each with a final
    ESR1-detected result (D538G, 1%): every one should get an esr1_switch alert."""
    ids = []
    for _ in range(n):
        patient = PatientFactory(enrolled_on=days(-300))
        TreatmentFactory(patient=patient, start_date=days(-150))
        draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-10))
        result = ResultFactory(draw=draw, reported_on=days(-3), esr1_status="detected")
        VariantFactory(
            result=result, short="D538G", protein_change="p.Asp538Gly", vaf_percent=Decimal("1")
        )
        ids.append(patient.id)
    return ids

"""The services as the web forms, Celery tasks and commands call them: no request around."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from patients import services
from patients.models import Patient, PendingEvaluation, Treatment
from tests.factories import TODAY, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def patient_data(**overrides) -> dict:
    data = {
        "mrn": "S-1",
        "given_name": "Ana",
        "family_name": "Silva",
        "birth_date": date(1970, 1, 1),
        "er_status": "positive",
        "pr_status": "positive",
        "her2_status": "negative",
        "oncologist": "onc",
    }
    return {**data, **overrides}


def errors_of(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def test_patient_create_takes_the_oncologist_by_username(oncologist):
    patient = services.patient_create(actor=oncologist, **patient_data())

    assert patient.oncologist == oncologist
    assert patient.enrolled_on == TODAY
    assert patient.sex == "female"
    assert patient.status == "active"
    assert patient.metastatic_sites == []


def test_patient_create_trims_text(oncologist):
    patient = services.patient_create(
        actor=oncologist, **patient_data(mrn="  S-2 ", given_name=" Ana ")
    )

    assert (patient.mrn, patient.given_name) == ("S-2", "Ana")


def test_every_problem_is_reported_at_once(oncologist, nurse):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(
            actor=oncologist,
            **patient_data(
                given_name="",
                oncologist="nurse",
                birth_date=days(3),
                her2_status="low",
                metastatic_sites=["bone", "marrow"],
            ),
        )

    assert set(errors_of(excinfo)) == {
        "given_name",
        "oncologist",
        "birth_date",
        "her2_status",
        "metastatic_sites",
    }
    assert "nurse is not an oncologist" in errors_of(excinfo)["oncologist"][0]
    assert not Patient.objects.exists()


def test_unknown_oncologist_username(oncologist):
    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(actor=oncologist, **patient_data(oncologist="dr_who"))

    assert errors_of(excinfo)["oncologist"] == ["No user has the username 'dr_who'."]


def test_mrn_must_be_unique(oncologist):
    PatientFactory(mrn="S-1")

    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(actor=oncologist, **patient_data())

    assert "already has MRN S-1" in errors_of(excinfo)["mrn"][0]


def test_mrn_race_lost_to_the_unique_constraint_is_a_field_error(oncologist, monkeypatch):
    """Two clinicians registering the same MRN at once: the database decides."""
    PatientFactory(mrn="S-1")
    real_filter = Patient.objects.filter

    def blind_filter(*args, **kwargs):
        if "mrn__iexact" in kwargs:  # the check runs before the other save commits
            return Patient.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Patient.objects, "filter", blind_filter)

    with pytest.raises(ValidationError) as excinfo:
        services.patient_create(actor=oncologist, **patient_data())

    assert "same time" in errors_of(excinfo)["mrn"][0]


def test_nurse_may_not_register_patients(nurse, oncologist):
    with pytest.raises(PermissionDenied):
        services.patient_create(actor=nurse, **patient_data())


def test_admin_may_not_touch_clinical_records(admin_user):
    patient = PatientFactory()

    with pytest.raises(PermissionDenied):
        services.patient_update(actor=admin_user, patient=patient, status="inactive")
    with pytest.raises(PermissionDenied):
        services.appointment_create(actor=admin_user, patient=patient, date=TODAY, kind="clinic")


def test_an_unknown_field_is_a_programming_error(oncologist):
    patient = PatientFactory()

    with pytest.raises(TypeError, match="colour"):
        services.patient_update(actor=oncologist, patient=patient, colour="blue")


def test_a_rejected_update_leaves_the_instance_alone(oncologist):
    patient = PatientFactory(given_name="Ana")

    with pytest.raises(ValidationError):
        services.patient_update(
            actor=oncologist, patient=patient, given_name="Anna", birth_date=days(10)
        )

    assert patient.given_name == "Ana"


def test_every_write_marks_the_patient_for_evaluation(oncologist, nurse):
    patient = PatientFactory()
    assert not PendingEvaluation.objects.filter(patient=patient).exists()

    services.appointment_create(actor=nurse, patient=patient, date=days(30), kind="imaging")

    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_evaluation_is_enqueued_only_after_commit(
    oncologist, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr("patients.outbox.enqueue_evaluation", enqueued.append)
    patient = PatientFactory()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.treatment_create(
            actor=oncologist,
            patient=patient,
            line_number=1,
            start_date=days(-10),
            endocrine_therapy="letrozole",
            cdk46_inhibitor="ribociclib",
        )
        assert enqueued == []

    assert len(callbacks) == 1
    assert enqueued == [patient.pk]


def test_treatment_create_accepts_codes_or_drugs(oncologist):
    from patients.models import Drug

    patient = PatientFactory()
    treatment = services.treatment_create(
        actor=oncologist,
        patient=patient,
        line_number=1,
        start_date=days(-10),
        endocrine_therapy=Drug.objects.get(code="exemestane"),
        cdk46_inhibitor="abemaciclib",
    )

    treatment.refresh_from_db()
    assert (treatment.endocrine_therapy_id, treatment.cdk46_inhibitor_id) == (
        "exemestane",
        "abemaciclib",
    )


@pytest.mark.parametrize("line_number", [0, 100, 32768])
def test_a_line_number_outside_1_to_99_is_refused_whoever_calls(oncologist, line_number):
    patient = PatientFactory(oncologist=oncologist)
    with pytest.raises(ValidationError) as refused:
        services.treatment_create(
            actor=oncologist, patient=patient, line_number=line_number, start_date=days(-30),
            endocrine_therapy="letrozole", cdk46_inhibitor="palbociclib",
        )  # fmt: skip

    assert errors_of(refused) == {
        "line_number": ["Line numbers run from 1 (the first metastatic line of therapy) to 99."]
    }
    assert not Treatment.objects.filter(patient=patient).exists()


def test_treatment_update_ends_and_the_next_starts_the_same_day(oncologist):
    patient = PatientFactory()
    current = TreatmentFactory(patient=patient, start_date=days(-200))

    services.treatment_update(
        actor=oncologist, treatment=current, end_date=TODAY, end_reason="esr1_switch"
    )
    following = services.treatment_create(
        actor=oncologist,
        patient=patient,
        line_number=1,
        start_date=TODAY,
        endocrine_therapy="camizestrant",
        cdk46_inhibitor="palbociclib",
    )

    assert Treatment.objects.filter(patient=patient).count() == 2
    assert following.start_date == current.end_date


def test_a_planned_switch_within_a_month(oncologist):
    patient = PatientFactory()
    current = TreatmentFactory(patient=patient, start_date=days(-200))

    services.treatment_update(
        actor=oncologist, treatment=current, end_date=days(14), end_reason="esr1_switch"
    )
    services.treatment_create(
        actor=oncologist,
        patient=patient,
        line_number=1,
        start_date=days(14),
        endocrine_therapy="fulvestrant",
        cdk46_inhibitor="palbociclib",
    )

    assert Treatment.objects.filter(patient=patient).count() == 2


def test_overlap_message_names_the_treatment_and_what_to_do(oncologist):
    patient = PatientFactory()
    ongoing = TreatmentFactory(patient=patient, start_date=days(-200))

    with pytest.raises(ValidationError) as excinfo:
        services.treatment_create(
            actor=oncologist,
            patient=patient,
            line_number=2,
            start_date=days(-5),
            endocrine_therapy="fulvestrant",
        )

    (message,) = errors_of(excinfo)["start_date"]
    assert message == (
        f"Overlaps the ongoing treatment {ongoing.pk} (line 1, Letrozole + Palbociclib, since "
        f"{days(-200)}). End that treatment on or before {days(-5)} first; a new treatment may "
        "start on the day the previous one ends."
    )


def test_an_assessment_for_another_patient_cannot_be_reassigned(oncologist):
    from tests.factories import AssessmentFactory

    assessment = AssessmentFactory()

    with pytest.raises(ValidationError) as excinfo:
        services.assessment_update(
            actor=oncologist, assessment=assessment, patient=PatientFactory()
        )

    assert "patient" in errors_of(excinfo)


def test_moving_the_birth_date_past_the_diagnosis_names_the_birth_date(oncologist):
    patient = PatientFactory(birth_date=date(1960, 3, 1), metastatic_diagnosis_date=days(-200))

    with pytest.raises(ValidationError) as excinfo:
        services.patient_update(actor=oncologist, patient=patient, birth_date=days(-100))

    assert "after the metastatic diagnosis date" in errors_of(excinfo)["birth_date"][0]

"""Reads of clinical records: the one place that decides what a user may see."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Action, can
from patients.models import Patient, PatientAccess


def sees_every_patient(user) -> bool:
    """Clinicians read every patient's record (SPEC section 1)."""
    return can(user, Action.VIEW_CLINICAL)


def patients_visible_to(user) -> QuerySet[Patient]:
    """Every patient for clinicians (SPEC section 1); nothing for anyone else."""
    if not sees_every_patient(user):
        return Patient.objects.none()
    return Patient.objects.all()


def records_visible_to(user, records: QuerySet, *, patient: str = "patient") -> QuerySet:
    """`records` (rows that belong to a patient through the `patient` lookup) narrowed to the
    patients `user` may see. For someone who sees every patient nothing is added: a filter
    `patient IN (SELECT id FROM patients_patient)` changes no result but makes Postgres join
    every patient into every list of alerts or draws."""
    if sees_every_patient(user):
        return records
    return records.filter(**{f"{patient}__in": patients_visible_to(user)})


def patient_for_user(user, patient_id, *, log_view: str | None = None) -> Patient:
    """The patient if `user` may see it, else 404. With `log_view`, the read is logged."""
    try:
        patient = patients_visible_to(user).select_related("oncologist").get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404("No such patient.") from None
    if log_view:
        log_patient_access(user=user, patient=patient, view=log_view)
    return patient


def log_patient_access(*, user, patient, view: str) -> None:
    PatientAccess.objects.create(user=user, patient=patient, view=view)


def log_patient_accesses(*, user, patient_ids, view: str) -> None:
    """One row per patient for a read that covered many at once (a digest), in one INSERT."""
    PatientAccess.objects.bulk_create(
        PatientAccess(user=user, patient_id=patient_id, view=view)
        for patient_id in sorted(set(patient_ids))
    )

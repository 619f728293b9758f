"""Reads of clinical records: the one place that decides what a user may see."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Action, can
from patients.models import Patient, PatientAccess


def clinical_reader_or_403(user) -> None:
    if not can(user, Action.VIEW_CLINICAL):
        raise PermissionDenied("Your role has no access to clinical records.")


def patients_visible_to(user) -> QuerySet[Patient]:
    """Every patient for clinicians (SPEC section 1); nothing for anyone else."""
    if not can(user, Action.VIEW_CLINICAL):
        return Patient.objects.none()
    return Patient.objects.all()


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

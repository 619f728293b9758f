"""The record forms: a patient, a treatment, an imaging assessment, an appointment. The patient
list and the patient page, which show what surveillance made of the record, are chart.views."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.decorators import role_required
from accounts.roles import Action
from patients import services
from patients.access_log import log_page_reads
from patients.forms import (
    AppointmentForm,
    AssessmentForm,
    PatientForm,
    TreatmentForm,
    apply_service_errors,
)
from patients.models import Treatment
from patients.selectors import patient_for_user


def _form_page(request, *, form, title, patient=None, submit="Save"):
    """A record form; opening one for a patient (GET) shows their record, so it is logged."""
    if patient is not None:
        log_page_reads(request, [patient], action="page:record_form")
    return render(
        request,
        "patients/form.html",
        {"form": form, "title": title, "patient": patient, "submit": submit},
    )


@require_http_methods(["GET", "POST"])
@role_required(Action.EDIT_PATIENT)
def patient_create(request):
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(actor=request.user, **form.service_data())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Patient {patient.full_name} added.")
            return redirect("patient-detail", patient_id=patient.id)
    return _form_page(request, form=form, title="New patient", submit="Add patient")


@require_http_methods(["GET", "POST"])
@role_required(Action.EDIT_PATIENT)
def patient_edit(request, patient_id: int):
    patient = patient_for_user(request.user, patient_id)
    initial = {f: getattr(patient, f) for f in PatientForm.base_fields if f != "oncologist"}
    initial["oncologist"] = patient.oncologist.username
    form = PatientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.service_data().items() if initial.get(k) != v}
        if "oncologist" in changes and changes["oncologist"].username == initial["oncologist"]:
            changes.pop("oncologist")
        try:
            services.patient_update(actor=request.user, patient=patient, **changes)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Patient record saved.")
            return redirect("patient-detail", patient_id=patient.id)
    return _form_page(request, form=form, title=f"Edit {patient.full_name}", patient=patient)


def _record_for_patient(request, patient_id, *, form_class, write, title, done):
    """A form page that adds one record to a patient's timeline through `write` (a service)."""
    patient = patient_for_user(request.user, patient_id)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.service_data() if hasattr(form, "service_data") else form.cleaned_data
        try:
            write(actor=request.user, patient=patient, **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("patient-detail", patient_id=patient.id)
    return _form_page(request, form=form, title=title, patient=patient)


@require_http_methods(["GET", "POST"])
@role_required(Action.EDIT_TREATMENT)
def treatment_create(request, patient_id: int):
    return _record_for_patient(
        request, patient_id, form_class=TreatmentForm, write=services.treatment_create,
        title="Add treatment", done="Treatment added to the timeline.",
    )  # fmt: skip


@require_http_methods(["GET", "POST"])
@role_required(Action.EDIT_TREATMENT)
def treatment_edit(request, patient_id: int, treatment_id: int):
    patient = patient_for_user(request.user, patient_id)
    treatment = get_object_or_404(Treatment, pk=treatment_id, patient=patient)
    initial = {
        "line_number": treatment.line_number, "setting": treatment.setting,
        "endocrine_therapy": treatment.endocrine_therapy_id or "",
        "cdk46_inhibitor": treatment.cdk46_inhibitor_id or "", "start_date": treatment.start_date,
        "end_date": treatment.end_date, "end_reason": treatment.end_reason,
    }  # fmt: skip
    form = TreatmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        changes = {k: v for k, v in data.items() if (initial.get(k) or None) != (v or None)}
        try:
            services.treatment_update(actor=request.user, treatment=treatment, **changes)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Treatment saved.")
            return redirect("patient-detail", patient_id=patient.id)
    return _form_page(request, form=form, title="Edit treatment", patient=patient)


@require_http_methods(["GET", "POST"])
@role_required(Action.EDIT_ASSESSMENT)
def assessment_create(request, patient_id: int):
    return _record_for_patient(
        request, patient_id, form_class=AssessmentForm, write=services.assessment_create,
        title="Record imaging assessment", done="Imaging assessment recorded.",
    )  # fmt: skip


@require_http_methods(["GET", "POST"])
@role_required(Action.RECORD_APPOINTMENT)
def appointment_create(request, patient_id: int):
    return _record_for_patient(
        request, patient_id, form_class=AppointmentForm, write=services.appointment_create,
        title="Add appointment", done="Appointment added.",
    )  # fmt: skip

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from accounts.decorators import role_required
from accounts.models import User
from accounts.roles import Action, can
from config.pagination import PageByIdPaginator
from patients import services
from patients.forms import (
    AppointmentForm,
    AssessmentForm,
    PatientForm,
    TreatmentForm,
    apply_service_errors,
)
from patients.models import Treatment, clinic_today
from patients.selectors import patient_for_user, patient_list, patient_page
from patients.timeline_picture import (
    AssessmentMark,
    DrawMark,
    TimelineData,
    TreatmentBar,
    VariantPoint,
    render_timeline_svg,
)
from surveillance.engine import current_policy
from surveillance.rules import AROMATASE_INHIBITORS, CDK46_INHIBITORS, risk_factor_label
from surveillance.services import may_resolve


@require_safe
@role_required(Action.VIEW_CLINICAL)
def patient_index(request):
    # NUL characters are dropped: Postgres text cannot hold them, and a search for one
    # fails in the database (a 500).
    filters = {
        key: request.GET.get(key, "").replace("\x00", "").strip()
        for key in ("search", "eligible", "risk", "oncologist", "open_alerts")
    }
    page = PageByIdPaginator(patient_list(user=request.user, **filters), 25).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "patients/patient_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "oncologists": User.objects.filter(role="oncologist", is_active=True),
        },
    )


def numbered_draws(draws) -> list:
    """Draws in date order, numbered 1..n: the same number in the picture and the table."""
    dated = sorted(
        (d for d in draws if d.status != "cancelled"),
        key=lambda d: (d.collected_on or d.due_date, d.id),
    )
    for number, draw in enumerate(dated, start=1):
        draw.number = number
    return dated


def _is_surveillance(t: Treatment) -> bool:
    return (
        t.setting == "metastatic"
        and t.line_number == 1
        and t.endocrine_therapy_id in AROMATASE_INHIBITORS
        and t.cdk46_inhibitor_id in CDK46_INHIBITORS
    )


def timeline_data(*, patient, data: dict, draws: list, today) -> TimelineData:
    bars = tuple(
        TreatmentBar(
            id=t.id,
            start=t.start_date,
            end=t.end_date,
            label=" + ".join(d.name for d in (t.endocrine_therapy, t.cdk46_inhibitor) if d),
            line_number=t.line_number,
            setting=t.setting,
            end_reason=t.end_reason,
            is_surveillance=_is_surveillance(t),
        )  # fmt: skip
        for t in data["treatments"]
    )
    marks = tuple(
        AssessmentMark(id=a.id, on=a.date, modality=a.modality, response=a.response)
        for a in data["assessments"]
    )
    draw_marks = []
    for d in draws:
        result = getattr(d, "result", None) if d.status == "resulted" else None
        variants = ()
        if result is not None:
            variants = tuple(
                VariantPoint(short=v.short, vaf_percent=float(v.vaf_percent))
                for v in result.variants.all()
                if v.gene == "ESR1"
            )
        draw_marks.append(
            DrawMark(
                number=d.number,
                id=d.id,
                on=d.collected_on or d.due_date,
                status=d.status,
                esr1_status=result.esr1_status if result else None,
                variants=variants,
            )  # fmt: skip
        )
    state = data["state"]
    return TimelineData(
        today=today,
        treatments=bars,
        assessments=marks,
        draws=tuple(draw_marks),
        next_due=state.next_draw_due if state and state.eligible else None,
        title=f"Treatment and ctDNA timeline of {patient.full_name}",
    )


@require_safe
@role_required(Action.VIEW_CLINICAL)
def patient_detail(request, patient_id: int):
    patient = patient_for_user(request.user, patient_id, log_view="page:patient_detail")
    data = patient_page(patient=patient)
    today = clinic_today()
    draws = numbered_draws(data["draws"])
    svg = render_timeline_svg(timeline_data(patient=patient, data=data, draws=draws, today=today))
    for alert in data["open_alerts"]:
        alert.user_may_resolve = may_resolve(request.user, alert)
    state = data["state"]
    policy = current_policy()
    risk_labels = [
        risk_factor_label(code, policy) for code in (state.risk_factors if state else [])
    ]
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            **data,
            "draws": draws,
            "timeline_svg": svg,
            "risk_labels": risk_labels,
            "today": today,
            "can_edit": can(request.user, Action.EDIT_PATIENT),
            "can_record": can(request.user, Action.RECORD_DRAW),
        },
    )


def _form_page(request, *, form, title, patient=None, submit="Save"):
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

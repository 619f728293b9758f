"""Writes to patients, treatments, assessments and appointments.

Every write here follows the same shape (SPEC sections 1 and 3):

1. check the actor's role (accounts.roles) and validate the input, collecting every
   problem as ``ValidationError({field: message})`` so a form or the API can show them all
   at once, in words a person can act on;
2. save in one transaction, inside ``pghistory.context(user=actor.pk)`` so the audit
   history names the user even when the call comes from Celery or the command line;
3. mark the patient for re-evaluation (``patients.outbox.patient_changed``) in that
   same transaction;
4. turn a database constraint that still fires (a concurrent write won the race) into the
   same kind of field error.

Arguments are Python values (dates as ``date``); parsing text is the caller's job
(serializers, forms). Relations may be given as objects or by their natural key: the
oncologist as a ``User`` or a username, drugs as a ``Drug`` or a drug code.

Dates and "today" (``clinic_today()``, the clinic's local date):

- ``birth_date``, ``metastatic_diagnosis_date``, ``enrolled_on`` and an assessment's
  ``date`` record things that have happened, so they may not lie in the future.
- A treatment's ``start_date`` and ``end_date`` may lie up to ``TREATMENT_LOOKAHEAD_DAYS``
  (31) days ahead: a clinic records a switch it has agreed for the next cycle by ending the
  current regimen and starting the next one on the same day. Both ends share the limit so
  such a switch can always be entered in one go; anything further ahead is a plan, not a
  treatment record.
- An appointment is usually in the future (that is what a draw is aligned with), but not
  more than ``APPOINTMENT_LOOKAHEAD_DAYS`` (about two years) ahead, which catches a
  mistyped year.
"""

from __future__ import annotations

from datetime import date, timedelta

import pghistory
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import User
from accounts.roles import Action, Role, require
from config.errors import Errors
from patients.models import (
    MAX_LINE_NUMBER,
    Appointment,
    AppointmentKind,
    Assessment,
    Drug,
    DrugClass,
    EndReason,
    MetastaticSite,
    Modality,
    Patient,
    PatientStatus,
    ReceptorStatus,
    Response,
    Setting,
    Sex,
    Treatment,
    clinic_today,
)
from patients.outbox import patient_changed

TREATMENT_LOOKAHEAD_DAYS = 31
APPOINTMENT_LOOKAHEAD_DAYS = 730

PATIENT_FIELDS = frozenset(
    {
        "mrn",
        "given_name",
        "family_name",
        "birth_date",
        "sex",
        "er_status",
        "pr_status",
        "her2_status",
        "metastatic_diagnosis_date",
        "metastatic_sites",
        "prior_adjuvant_ai",
        "high_tumour_burden",
        "oncologist",
        "status",
        "enrolled_on",
    }
)
# What a new patient gets when the caller leaves a field out; None marks a required field.
_PATIENT_DEFAULTS = {
    "mrn": None,
    "given_name": None,
    "family_name": None,
    "birth_date": None,
    "sex": Sex.FEMALE,
    "er_status": None,
    "pr_status": None,
    "her2_status": None,
    "metastatic_diagnosis_date": None,
    "metastatic_sites": [],
    "prior_adjuvant_ai": False,
    "high_tumour_burden": False,
    "oncologist": None,
    "status": PatientStatus.ACTIVE,
}
TREATMENT_FIELDS = frozenset(
    {
        "patient",
        "line_number",
        "setting",
        "endocrine_therapy",
        "cdk46_inhibitor",
        "start_date",
        "end_date",
        "end_reason",
    }
)
ASSESSMENT_FIELDS = frozenset({"patient", "date", "modality", "response", "note"})
APPOINTMENT_FIELDS = frozenset({"patient", "date", "kind", "note"})

# Database constraints a concurrent write can still trip after validation passed, and the
# field a person should look at when it happens.
_CONSTRAINT_ERRORS = {
    "patients_patient_mrn_key": (
        "mrn",
        "Another patient was saved with this MRN at the same time. Check the MRN.",
    ),
    "patient_diagnosis_after_birth": (
        "metastatic_diagnosis_date",
        "The metastatic diagnosis date cannot be before the birth date.",
    ),
    "treatment_metastatic_no_overlap": (
        "start_date",
        "Another metastatic treatment overlapping these dates was saved at the same time. "
        "Reload the patient's treatments and adjust the dates.",
    ),
    "treatment_ends_after_start": ("end_date", "The end date must be after the start date."),
    "treatment_end_reason_with_end_date": (
        "end_reason",
        "Give an end reason together with an end date, and neither while ongoing.",
    ),
    "treatment_has_a_drug": (
        "endocrine_therapy",
        "A treatment needs an endocrine therapy, a CDK4/6 inhibitor or both.",
    ),
}


# --------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------


def patient_create(*, actor, **data) -> Patient:
    """Register a patient. ``enrolled_on`` defaults to the clinic's today."""
    require(actor, Action.EDIT_PATIENT)
    _reject_unknown(data, PATIENT_FIELDS)
    errors = Errors()
    data = {**_PATIENT_DEFAULTS, "enrolled_on": clinic_today(), **data}
    patient = Patient()
    _validate_patient(patient, data, errors)
    errors.raise_if_any()
    _apply(patient, data)
    _save(actor, patient, patient_id=lambda: patient.pk)
    return patient


def patient_update(*, actor, patient: Patient, **changes) -> Patient:
    """Change some of a patient's fields. A patient leaves care by ``status``, never deletion."""
    require(actor, Action.EDIT_PATIENT)
    _reject_unknown(changes, PATIENT_FIELDS)
    errors = Errors()
    _validate_patient(patient, changes, errors)
    errors.raise_if_any()
    _apply(patient, changes)
    _save(actor, patient, patient_id=lambda: patient.pk, fields=[*changes, "updated_at"])
    return patient


def _validate_patient(patient: Patient, changes: dict, errors: Errors) -> None:
    today = clinic_today()
    for field in ("mrn", "given_name", "family_name"):
        if field in changes:
            changes[field] = (changes[field] or "").strip()
            _check_length(errors, field, changes[field], Patient)
    if changes.get("mrn") and "mrn" not in errors:
        clash = Patient.objects.filter(mrn__iexact=changes["mrn"]).exclude(pk=patient.pk).first()
        if clash is not None:
            errors.add("mrn", f"Another patient (id {clash.pk}) already has MRN {clash.mrn}.")
    for field, choices in (
        ("sex", Sex),
        ("er_status", ReceptorStatus),
        ("pr_status", ReceptorStatus),
        ("her2_status", ReceptorStatus),
        ("status", PatientStatus),
    ):
        _check_choice(errors, changes, field, choices, required=True)
    for field in ("prior_adjuvant_ai", "high_tumour_burden"):
        if field in changes and not isinstance(changes[field], bool):
            errors.add(field, "Give true or false.")
    if "metastatic_sites" in changes:
        changes["metastatic_sites"] = _clean_sites(errors, changes["metastatic_sites"])
    if changes.get("oncologist") is not None:
        changes["oncologist"] = _resolve_oncologist(errors, changes["oncologist"])
    elif "oncologist" in changes:
        errors.add("oncologist", "Every patient needs a treating oncologist.")
    if "birth_date" in changes and changes["birth_date"] is None:
        errors.add("birth_date", "This field is required.")
    for field in ("birth_date", "metastatic_diagnosis_date", "enrolled_on"):
        value = changes.get(field)
        if value is not None and value > today:
            errors.add(field, f"This date is in the future (today is {today}).")
    if "enrolled_on" in changes and changes["enrolled_on"] is None:
        errors.add("enrolled_on", "Give the date the patient joined the programme.")
    birth = _merged(patient, changes, "birth_date")
    diagnosis = _merged(patient, changes, "metastatic_diagnosis_date")
    if birth and diagnosis and diagnosis < birth and "birth_date" not in errors:
        if "metastatic_diagnosis_date" in changes:
            errors.add(
                "metastatic_diagnosis_date",
                f"The metastatic diagnosis date is before the birth date ({birth}).",
            )
        else:
            errors.add(
                "birth_date",
                f"The birth date is after the metastatic diagnosis date ({diagnosis}).",
            )


def _clean_sites(errors: Errors, sites) -> list[str]:
    if sites is None:
        return []
    if isinstance(sites, str):
        sites = [sites]
    sites = [str(site).strip() for site in sites]
    unknown = [site for site in sites if site not in MetastaticSite.values]
    if unknown:
        errors.add(
            "metastatic_sites",
            f"Unknown metastatic site(s): {', '.join(unknown)}. "
            f"Choose from: {', '.join(MetastaticSite.values)}.",
        )
    duplicates = sorted({site for site in sites if sites.count(site) > 1})
    if duplicates:
        errors.add("metastatic_sites", f"Listed more than once: {', '.join(duplicates)}.")
    return sites


def _resolve_oncologist(errors: Errors, value) -> User | None:
    if isinstance(value, User):
        user = value
    else:
        username = str(value).strip()
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            errors.add("oncologist", f"No user has the username '{username}'.")
            return None
    if user.role != Role.ONCOLOGIST:
        errors.add(
            "oncologist",
            f"{user.username} is not an oncologist (role: {user.role or 'none'}). "
            "Choose the treating oncologist's username.",
        )
    elif not user.is_active:
        errors.add(
            "oncologist", f"{user.username}'s account is deactivated. Choose an active oncologist."
        )
    return user


# --------------------------------------------------------------------------------------------
# Treatments
# --------------------------------------------------------------------------------------------


def treatment_create(
    *,
    actor,
    patient: Patient,
    line_number: int,
    start_date: date,
    setting: str = Setting.METASTATIC,
    endocrine_therapy: Drug | str | None = None,
    cdk46_inhibitor: Drug | str | None = None,
    end_date: date | None = None,
    end_reason: str = "",
) -> Treatment:
    """Add a regimen period to the patient's timeline (SPEC section 3, Treatment)."""
    require(actor, Action.EDIT_TREATMENT)
    data = {
        "patient": patient,
        "line_number": line_number,
        "setting": setting,
        "endocrine_therapy": endocrine_therapy,
        "cdk46_inhibitor": cdk46_inhibitor,
        "start_date": start_date,
        "end_date": end_date,
        "end_reason": end_reason or "",
    }
    treatment = Treatment()
    _validate_treatment(treatment, data)
    _apply(treatment, data)
    _save(actor, treatment, patient_id=lambda: treatment.patient_id)
    return treatment


def treatment_update(*, actor, treatment: Treatment, **changes) -> Treatment:
    """Change a treatment, e.g. end it: ``end_date`` with ``end_reason``."""
    require(actor, Action.EDIT_TREATMENT)
    _reject_unknown(changes, TREATMENT_FIELDS)
    if "end_reason" in changes:
        changes["end_reason"] = changes["end_reason"] or ""
    _validate_treatment(treatment, changes)
    _apply(treatment, changes)
    _save(
        actor, treatment, patient_id=lambda: treatment.patient_id, fields=[*changes, "updated_at"]
    )
    return treatment


def _validate_treatment(treatment: Treatment, changes: dict) -> None:
    errors = Errors()
    today = clinic_today()
    _check_same_patient(errors, treatment, changes, "treatment")
    patient = _merged(treatment, changes, "patient")
    if patient is None:
        errors.raise_if_any()
    if "line_number" in changes:
        line = changes["line_number"]
        if not isinstance(line, int) or isinstance(line, bool) or not 1 <= line <= MAX_LINE_NUMBER:
            errors.add(
                "line_number",
                f"Line numbers run from 1 (the first metastatic line of therapy) "
                f"to {MAX_LINE_NUMBER}.",
            )
    _check_choice(errors, changes, "setting", Setting, required=True)
    _check_choice(errors, changes, "end_reason", EndReason, required=False)
    _resolve_drugs(errors, changes)
    has_drug = any(
        changes[field] if field in changes else getattr(treatment, f"{field}_id")
        for field in ("endocrine_therapy", "cdk46_inhibitor")
    )
    if not has_drug and "endocrine_therapy" not in errors and "cdk46_inhibitor" not in errors:
        errors.add(
            "endocrine_therapy",
            "A treatment needs at least one drug: give endocrine_therapy, cdk46_inhibitor or both.",
        )

    start = _merged(treatment, changes, "start_date")
    end = _merged(treatment, changes, "end_date")
    end_reason = _merged(treatment, changes, "end_reason")
    latest = today + timedelta(days=TREATMENT_LOOKAHEAD_DAYS)
    if start is None:
        errors.add("start_date", "This field is required.")
    elif start > latest:
        errors.add(
            "start_date",
            f"The start date can be at most {TREATMENT_LOOKAHEAD_DAYS} days ahead "
            f"(until {latest}). Record a treatment once it has started or is about to.",
        )
    elif patient.birth_date and start < patient.birth_date:
        errors.add("start_date", f"The start date is before the birth date ({patient.birth_date}).")
    if end is not None and start is not None:
        if end <= start:
            errors.add(
                "end_date",
                f"The end date must be after the start date ({start}). "
                "The next treatment may start on the day this one ends.",
            )
        elif end > latest:
            errors.add(
                "end_date",
                f"The end date can be at most {TREATMENT_LOOKAHEAD_DAYS} days ahead (until "
                f"{latest}). Leave it empty while the treatment continues.",
            )
    if "end_reason" not in errors:
        if end is not None and not end_reason:
            errors.add(
                "end_reason",
                f"Give the reason the treatment ended ({', '.join(EndReason.values)}).",
            )
        elif end is None and end_reason:
            errors.add(
                "end_reason",
                "An ongoing treatment has no end reason. Give an end date too, or leave "
                "the end reason empty.",
            )

    setting = _merged(treatment, changes, "setting")
    date_errors = {"start_date", "end_date"} & set(errors.fields)
    if setting == Setting.METASTATIC and start is not None and not date_errors:
        _check_no_overlap(errors, treatment, patient, start, end)
    errors.raise_if_any()


def _resolve_drugs(errors: Errors, changes: dict) -> None:
    wanted = {
        field: changes[field]
        for field in ("endocrine_therapy", "cdk46_inhibitor")
        if field in changes and changes[field] not in (None, "")
    }
    codes = [str(v).strip().lower() for v in wanted.values() if not isinstance(v, Drug)]
    catalogue = Drug.objects.in_bulk(codes) if codes else {}
    for field in ("endocrine_therapy", "cdk46_inhibitor"):
        if field not in changes:
            continue
        if field not in wanted:
            changes[field] = None
            continue
        value = wanted[field]
        drug = value if isinstance(value, Drug) else catalogue.get(str(value).strip().lower())
        changes[field] = drug
        wants_cdk46 = field == "cdk46_inhibitor"
        if drug is None:
            errors.add(field, f"Unknown drug code '{value}'. {_drug_codes_hint(wants_cdk46)}")
        elif wants_cdk46 and drug.drug_class != DrugClass.CDK46_INHIBITOR:
            errors.add(
                field,
                f"{drug.name} is {_CLASS_NOUNS[drug.drug_class]}, not a CDK4/6 inhibitor; give "
                f"it as endocrine_therapy. {_drug_codes_hint(True)}",
            )
        elif not wants_cdk46 and drug.drug_class == DrugClass.CDK46_INHIBITOR:
            errors.add(
                field,
                f"{drug.name} is a CDK4/6 inhibitor; give it as cdk46_inhibitor. "
                f"{_drug_codes_hint(False)}",
            )


_CLASS_NOUNS = {
    DrugClass.AROMATASE_INHIBITOR: "an aromatase inhibitor",
    DrugClass.SERD: "a SERD",
    DrugClass.SERM: "a SERM",
    DrugClass.CDK46_INHIBITOR: "a CDK4/6 inhibitor",
}


def _drug_codes_hint(cdk46: bool) -> str:
    drugs = Drug.objects.order_by("code")
    if cdk46:
        drugs = drugs.filter(drug_class=DrugClass.CDK46_INHIBITOR)
        label = "CDK4/6 inhibitors"
    else:
        drugs = drugs.exclude(drug_class=DrugClass.CDK46_INHIBITOR)
        label = "Endocrine therapies"
    return f"{label}: {', '.join(drugs.values_list('code', flat=True))}."


def _check_no_overlap(errors: Errors, treatment, patient, start: date, end: date | None) -> None:
    """Metastatic periods are half-open [start, end): one may start the day another ends.
    The exclusion constraint ``treatment_metastatic_no_overlap`` backs this up for races."""
    overlapping = Q(end_date__isnull=True) | Q(end_date__gt=start)
    if end is not None:
        overlapping &= Q(start_date__lt=end)
    other = (
        Treatment.objects.filter(overlapping, patient=patient, setting=Setting.METASTATIC)
        .exclude(pk=treatment.pk)
        .select_related("endocrine_therapy", "cdk46_inhibitor")
        .order_by("start_date", "id")
        .first()
    )
    if other is None:
        return
    drugs = " + ".join(d.name for d in (other.endocrine_therapy, other.cdk46_inhibitor) if d)
    period = (
        f"{other.start_date} to {other.end_date}" if other.end_date else f"since {other.start_date}"
    )
    described = f"treatment {other.pk} (line {other.line_number}, {drugs}, {period})"
    if other.start_date >= start:
        errors.add(
            "end_date",
            f"Overlaps {described}, which starts on {other.start_date}. End this treatment on "
            f"or before {other.start_date}.",
        )
    elif other.end_date is None:
        errors.add(
            "start_date",
            f"Overlaps the ongoing {described}. End that treatment on or before {start} first; "
            "a new treatment may start on the day the previous one ends.",
        )
    else:
        errors.add(
            "start_date",
            f"Overlaps {described}. Start on or after {other.end_date}, or change that "
            "treatment's end date.",
        )


# --------------------------------------------------------------------------------------------
# Assessments and appointments
# --------------------------------------------------------------------------------------------


def assessment_create(
    *, actor, patient: Patient, date: date, modality: str, response: str, note: str = ""
) -> Assessment:
    """Record a completed imaging assessment. ``response`` ``PD`` is radiographic progression."""
    require(actor, Action.EDIT_ASSESSMENT)
    data = {"patient": patient, "date": date, "modality": modality, "response": response}
    data["note"] = note or ""
    assessment = Assessment()
    _validate_assessment(assessment, data)
    _apply(assessment, data)
    _save(actor, assessment, patient_id=lambda: assessment.patient_id)
    return assessment


def assessment_update(*, actor, assessment: Assessment, **changes) -> Assessment:
    require(actor, Action.EDIT_ASSESSMENT)
    _reject_unknown(changes, ASSESSMENT_FIELDS)
    _validate_assessment(assessment, changes)
    _apply(assessment, changes)
    _save(actor, assessment, patient_id=lambda: assessment.patient_id, fields=list(changes))
    return assessment


def _validate_assessment(assessment: Assessment, changes: dict) -> None:
    errors = Errors()
    today = clinic_today()
    _check_same_patient(errors, assessment, changes, "assessment")
    patient = _merged(assessment, changes, "patient")
    if patient is None:
        errors.raise_if_any()
    _check_choice(errors, changes, "modality", Modality, required=True)
    _check_choice(errors, changes, "response", Response, required=True)
    if "note" in changes:
        changes["note"] = (changes["note"] or "").strip()
    if "date" in changes:
        when = changes["date"]
        if when is None:
            errors.add("date", "This field is required.")
        elif when > today:
            errors.add(
                "date",
                f"An assessment is recorded once done; this date is in the future (today is "
                f"{today}). Book the scan as an imaging appointment instead.",
            )
        elif when < patient.birth_date:
            errors.add("date", f"The date is before the birth date ({patient.birth_date}).")
    errors.raise_if_any()


def appointment_create(
    *, actor, patient: Patient, date: date, kind: str, note: str = ""
) -> Appointment:
    """Record a visit or scan a blood draw can be aligned with (SPEC section 5, rule 4)."""
    require(actor, Action.RECORD_APPOINTMENT)
    data = {"patient": patient, "date": date, "kind": kind, "note": note or ""}
    appointment = Appointment()
    _validate_appointment(appointment, data)
    _apply(appointment, data)
    _save(actor, appointment, patient_id=lambda: appointment.patient_id)
    return appointment


def appointment_update(*, actor, appointment: Appointment, **changes) -> Appointment:
    require(actor, Action.RECORD_APPOINTMENT)
    _reject_unknown(changes, APPOINTMENT_FIELDS)
    _validate_appointment(appointment, changes)
    _apply(appointment, changes)
    _save(actor, appointment, patient_id=lambda: appointment.patient_id, fields=list(changes))
    return appointment


def _validate_appointment(appointment: Appointment, changes: dict) -> None:
    errors = Errors()
    today = clinic_today()
    _check_same_patient(errors, appointment, changes, "appointment")
    patient = _merged(appointment, changes, "patient")
    if patient is None:
        errors.raise_if_any()
    _check_choice(errors, changes, "kind", AppointmentKind, required=True)
    if "note" in changes:
        changes["note"] = (changes["note"] or "").strip()
        _check_length(errors, "note", changes["note"], Appointment)
    if "date" in changes:
        when = changes["date"]
        latest = today + timedelta(days=APPOINTMENT_LOOKAHEAD_DAYS)
        if when is None:
            errors.add("date", "This field is required.")
        elif when > latest:
            errors.add(
                "date",
                f"The date is more than two years ahead (latest {latest}). Check the year.",
            )
        elif when < patient.birth_date:
            errors.add("date", f"The date is before the birth date ({patient.birth_date}).")
    errors.raise_if_any()


# --------------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------------


def _reject_unknown(changes: dict, allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"unexpected field(s): {', '.join(sorted(unknown))}")


def _merged(instance, changes: dict, field: str):
    return changes[field] if field in changes else getattr(instance, field, None)


def _check_choice(errors: Errors, changes: dict, field: str, choices, *, required: bool) -> None:
    if field not in changes:
        return
    value = changes[field]
    options = ", ".join(choices.values)
    if value in (None, ""):
        if required:
            errors.add(field, f"This field is required. Choose one of: {options}.")
    elif value not in choices.values:
        errors.add(field, f"'{value}' is not a valid choice. Choose one of: {options}.")


def _check_length(errors: Errors, field: str, value: str, model) -> None:
    max_length = model._meta.get_field(field).max_length
    blank = model._meta.get_field(field).blank
    if not value and not blank:
        errors.add(field, "This field is required.")
    elif max_length and len(value) > max_length:
        errors.add(field, f"At most {max_length} characters (this has {len(value)}).")


def _check_same_patient(errors: Errors, record, changes: dict, noun: str) -> None:
    if "patient" not in changes:
        return
    new = changes["patient"]
    if new is None:
        errors.add("patient", "This field is required.")
    elif record.pk is not None and new.pk != record.patient_id:
        errors.add(
            "patient",
            f"A {noun} cannot move to another patient. Record it on the right patient instead.",
        )


def _apply(instance, changes: dict) -> None:
    for field, value in changes.items():
        setattr(instance, field, value)


def _save(actor, instance, *, patient_id, fields: list[str] | None = None) -> None:
    """Save, audit and mark for re-evaluation in one transaction; a constraint that still
    fires (a concurrent write won) becomes a field error instead of a 500."""
    try:
        with pghistory.context(user=actor.pk), transaction.atomic():
            if fields is None:
                instance.save()
            else:
                instance.save(update_fields=sorted(set(fields)))
            patient_changed(patient_id())
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint in _CONSTRAINT_ERRORS:
            field, message = _CONSTRAINT_ERRORS[constraint]
            raise ValidationError({field: message}) from exc
        raise

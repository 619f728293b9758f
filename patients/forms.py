"""Form fields for the clinical pages. Forms only parse types; the rules a record must meet
live in the services, which the API calls too (errors come back onto these forms)."""

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import User
from config.errors import RowError
from patients.models import (
    MAX_LINE_NUMBER,
    AppointmentKind,
    Drug,
    DrugClass,
    EndReason,
    MetastaticSite,
    Modality,
    PatientStatus,
    ReceptorStatus,
    Response,
    Setting,
    Sex,
)

# HTML date inputs only accept ISO dates, whatever the display locale.
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def apply_service_errors(
    form: forms.BaseForm,
    exc: ValidationError,
    *,
    formsets: Mapping[str, forms.BaseFormSet] | None = None,
) -> list[str]:
    """Put a service's errors (the shape in config.errors) on the page: next to the matching
    field of `form`, a row error on its row of the formset named like the field
    (`formsets={"variants": formset}`), anything else at the top of the form. Returns the
    messages about a formset as a whole, not one row, for the page to show above its rows."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return []
    formsets = formsets or {}
    about_formsets: list[str] = []
    for field, errors in exc.error_dict.items():
        formset = formsets.get(field)
        if formset is None:
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error.messages)
            continue
        for error in errors:
            if isinstance(error, RowError) and error.index < len(formset.forms):
                row = formset.forms[error.index]
                row.add_error(error.field if error.field in row.fields else None, error.detail)
            else:
                about_formsets.extend(error.messages)
    return about_formsets


class PatientForm(forms.Form):
    mrn = forms.CharField(label="MRN", max_length=32)
    given_name = forms.CharField(max_length=80)
    family_name = forms.CharField(max_length=80)
    birth_date = forms.DateField(widget=DATE_WIDGET)
    sex = forms.ChoiceField(choices=Sex.choices)
    er_status = forms.ChoiceField(label="ER", choices=ReceptorStatus.choices)
    pr_status = forms.ChoiceField(label="PR", choices=ReceptorStatus.choices)
    her2_status = forms.ChoiceField(
        label="HER2", choices=ReceptorStatus.choices, help_text="HER2-low counts as negative."
    )
    metastatic_diagnosis_date = forms.DateField(required=False, widget=DATE_WIDGET)
    metastatic_sites = forms.MultipleChoiceField(
        choices=MetastaticSite.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    prior_adjuvant_ai = forms.BooleanField(label="Prior adjuvant AI", required=False)
    high_tumour_burden = forms.BooleanField(required=False)
    oncologist = forms.ModelChoiceField(
        queryset=User.objects.filter(role="oncologist", is_active=True),
        to_field_name="username",
    )
    status = forms.ChoiceField(choices=PatientStatus.choices, initial=PatientStatus.ACTIVE)
    enrolled_on = forms.DateField(
        required=False, widget=DATE_WIDGET, help_text="Defaults to today."
    )

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("enrolled_on") is None:
            data.pop("enrolled_on", None)
        return data


def _drug_choices(*, cdk46: bool):
    drugs = Drug.objects.all()
    drugs = (
        drugs.filter(drug_class=DrugClass.CDK46_INHIBITOR)
        if cdk46
        else drugs.exclude(drug_class=DrugClass.CDK46_INHIBITOR)
    )
    return [("", "—")] + [(d.code, f"{d.name} ({d.get_drug_class_display()})") for d in drugs]


class TreatmentForm(forms.Form):
    line_number = forms.IntegerField(min_value=1, max_value=MAX_LINE_NUMBER, initial=1)
    setting = forms.ChoiceField(choices=Setting.choices, initial=Setting.METASTATIC)
    endocrine_therapy = forms.ChoiceField(required=False)
    cdk46_inhibitor = forms.ChoiceField(label="CDK4/6 inhibitor", required=False)
    start_date = forms.DateField(widget=DATE_WIDGET)
    end_date = forms.DateField(required=False, widget=DATE_WIDGET)
    end_reason = forms.ChoiceField(choices=[("", "—"), *EndReason.choices], required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endocrine_therapy"].choices = _drug_choices(cdk46=False)
        self.fields["cdk46_inhibitor"].choices = _drug_choices(cdk46=True)

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        for field in ("endocrine_therapy", "cdk46_inhibitor"):
            data[field] = data[field] or None
        return data


class AssessmentForm(forms.Form):
    date = forms.DateField(widget=DATE_WIDGET)
    modality = forms.ChoiceField(choices=Modality.choices)
    response = forms.ChoiceField(choices=Response.choices)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class AppointmentForm(forms.Form):
    date = forms.DateField(widget=DATE_WIDGET)
    kind = forms.ChoiceField(choices=AppointmentKind.choices)
    note = forms.CharField(required=False, max_length=200)

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters

from patients import search
from patients.models import Appointment, Assessment, Patient, Treatment


class _StrictBooleanField(forms.NullBooleanField):
    """true/false only: a misspelt value is a 400, not a silently unfiltered list."""

    # The boolean widgets turn anything they do not know into "no filter".
    widget = forms.TextInput

    def to_python(self, value):
        text = str(value).strip().lower() if value is not None else ""
        if text == "":
            return None
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValidationError("Use true or false.")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = _StrictBooleanField


class PatientFilter(filters.FilterSet):
    search = filters.CharFilter(
        method="filter_search",
        label=(
            "MRN or name, partial and case-insensitive; every word must match (the start of "
            "the MRN or a name where the database has no trigram index)."
        ),
    )
    oncologist = filters.CharFilter(
        field_name="oncologist__username", lookup_expr="iexact", label="Oncologist's username."
    )

    class Meta:
        model = Patient
        fields = ["search", "oncologist"]

    def filter_search(self, queryset, name, value):
        if not value.split():
            return queryset
        # The list's order, on the search's indexes (patients.search.ORDER).
        return queryset.filter(search.matches(value)).order_by(*search.ORDER)


class _ByPatient(filters.FilterSet):
    patient = filters.NumberFilter(field_name="patient__id", label="Patient id.")


class TreatmentFilter(_ByPatient):
    class Meta:
        model = Treatment
        fields = ["patient"]


class AssessmentFilter(_ByPatient):
    class Meta:
        model = Assessment
        fields = ["patient"]


class AppointmentFilter(_ByPatient):
    class Meta:
        model = Appointment
        fields = ["patient"]

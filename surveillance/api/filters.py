"""Query filters of the draw, result and alert lists (SPEC section 6)."""

import django_filters
from django_filters import rest_framework as filters

from surveillance.models import (
    Alert,
    AlertKind,
    AlertStatus,
    Draw,
    DrawStatus,
    Esr1Status,
    Result,
    ResultStatus,
)


class DrawFilter(filters.FilterSet):
    patient = filters.NumberFilter(field_name="patient_id", help_text="patient id")
    status = filters.ChoiceFilter(choices=DrawStatus.choices)

    class Meta:
        model = Draw
        fields = ["patient", "status"]


class ResultFilter(filters.FilterSet):
    patient = filters.NumberFilter(field_name="draw__patient_id", help_text="patient id")
    draw = filters.NumberFilter(field_name="draw_id", help_text="draw id")
    status = filters.ChoiceFilter(choices=ResultStatus.choices)
    esr1_status = filters.ChoiceFilter(choices=Esr1Status.choices)

    class Meta:
        model = Result
        fields = ["patient", "draw", "status", "esr1_status"]


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    kind = django_filters.ChoiceFilter(choices=AlertKind.choices)

    class Meta:
        model = Alert
        fields = ["patient", "status", "kind"]

from django.db.models import Q

from patients.api import filters as records


class PatientFilter(records.PatientFilter):
    """The record's filters and the surveillance verdict's."""

    eligible = records.StrictBooleanFilter(
        method="filter_eligible",
        label="Eligible for surveillance now; patients not yet evaluated count as not eligible.",
    )

    class Meta(records.PatientFilter.Meta):
        fields = [*records.PatientFilter.Meta.fields, "eligible"]

    def filter_eligible(self, queryset, name, value):
        eligible = Q(surveillance_state__eligible=True)
        return queryset.filter(eligible) if value else queryset.exclude(eligible)

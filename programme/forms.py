"""The period the figures cover: one form for the page, the CSV download and the API, so
the three accept and refuse the same input with the same words."""

from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError

# Ten years and the leap days in them: enough for any look back, and a bound on the months
# a request makes the database and the page lay out.
MAX_RANGE_DAYS = 3653
DEFAULT_MONTHS = 12
ISO_DATE = ["%Y-%m-%d"]


def default_start(end: date) -> date:
    """The first day of the month DEFAULT_MONTHS - 1 months before `end`'s month: with
    `end` today, the last twelve calendar months, this one so far included."""
    months = end.year * 12 + end.month - 1 - (DEFAULT_MONTHS - 1)
    if months < 12:  # before the year 1
        return date.min
    return date(months // 12, months % 12 + 1, 1)


class MetricsRangeForm(forms.Form):
    """`from` and `to` (YYYY-MM-DD, inclusive). Without `to`, today; without `from`, the
    start of the last twelve calendar months up to `to`."""

    def __init__(self, data=None, *, today: date):
        super().__init__(data)
        self.today = today
        # "from" is a Python keyword, so the fields are added by name rather than declared.
        self.fields["from"] = forms.DateField(
            required=False, input_formats=ISO_DATE, label="From",
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        )  # fmt: skip
        self.fields["to"] = forms.DateField(
            required=False, input_formats=ISO_DATE, label="To",
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        end = cleaned.get("to") or self.today
        start = cleaned.get("from") or default_start(end)
        if start > end:
            self.add_error("to", f"The end of the period ({end}) is before its start ({start}).")
        elif (end - start).days >= MAX_RANGE_DAYS:
            self.add_error("from", "The period may span at most ten years.")
        cleaned["from"], cleaned["to"] = start, end
        return cleaned


def metrics_range(data, *, today: date) -> tuple[date, date]:
    """The (from, to) the query asks for, or a ValidationError naming the fields."""
    form = MetricsRangeForm(data, today=today)
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    return form.cleaned_data["from"], form.cleaned_data["to"]

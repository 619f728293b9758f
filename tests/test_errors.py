"""One error shape (config.errors): what a service raises, how the API renders it
(config.api.api_detail) and how a page does (patients.forms.apply_service_errors)."""

import pytest
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from rest_framework.test import APIClient

from config.api import api_detail
from config.errors import Errors, RowError
from patients.forms import apply_service_errors
from surveillance.models import Result
from surveillance.services import VariantRowError
from tests.factories import TODAY, DrawFactory, PatientFactory, days


class Row(RowError):
    noun = "Line"
    labels = {"name": "name", NON_FIELD_ERRORS: "entry"}


def refused() -> ValidationError:
    errors = Errors()
    errors.add("when", "Give a date.")
    errors.add(None, "This conflicts with a change saved at the same time.")
    errors.add("lines", Row(1, "name", "Too long.", row_count=3))
    errors.add("lines", Row(2, NON_FIELD_ERRORS, "Expected a name.", row_count=3))
    try:
        errors.raise_if_any()
    except ValidationError as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_errors_raise_nothing_when_empty_and_everything_at_once_otherwise():
    Errors().raise_if_any()
    exc = refused()
    assert set(exc.error_dict) == {"when", NON_FIELD_ERRORS, "lines"}
    # Where the structure is not used, a row error still reads on its own.
    assert exc.message_dict["lines"] == [
        "Line 2, name: Too long.",
        "Line 3, entry: Expected a name.",
    ]


def test_the_api_nests_row_errors_by_row_and_names_whole_input_problems():
    assert api_detail(refused()) == {
        "when": ["Give a date."],
        "lines": {1: {"name": ["Too long."]}, 2: {"non_field_errors": ["Expected a name."]}},
        "non_field_errors": ["This conflicts with a change saved at the same time."],
    }
    assert api_detail(ValidationError("No.")) == {"non_field_errors": ["No."]}


def test_the_api_gives_one_entry_per_row_when_lists_are_not_dicts(settings):
    settings.REST_FRAMEWORK = dict(settings.REST_FRAMEWORK, LIST_SERIALIZER_ERRORS_AS_DICT=False)
    assert api_detail(refused())["lines"] == [
        {},
        {"name": ["Too long."]},
        {"non_field_errors": ["Expected a name."]},
    ]


class WhenForm(forms.Form):
    when = forms.DateField()


class LineForm(forms.Form):
    name = forms.CharField()


def test_a_page_puts_each_error_next_to_its_field_and_row():
    form = WhenForm({"when": "2026-01-02"})
    lines = forms.formset_factory(LineForm, extra=0)(
        {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0", "form-0-name": "a", "form-1-name": "b"}
    )
    assert form.is_valid() and lines.is_valid()

    about_lines = apply_service_errors(form, refused(), formsets={"lines": lines})

    assert form.errors["when"] == ["Give a date."]
    assert form.non_field_errors() == ["This conflicts with a change saved at the same time."]
    assert lines.forms[1].errors == {"name": ["Too long."]}
    assert not lines.forms[0].errors
    # Row 3 is not on the page: its message goes above the rows, not lost.
    assert about_lines == ["Line 3, entry: Expected a name."]


def test_without_its_formset_a_row_error_is_a_plain_message_at_the_top():
    form = WhenForm({"when": "2026-01-02"})
    assert form.is_valid()
    assert apply_service_errors(form, refused()) == []
    assert "Line 2, name: Too long." in form.non_field_errors()


# --- The same refused variant row through the API and through the result form ----------------


@pytest.mark.django_db
def test_an_unreadable_variant_reads_the_same_in_the_api_and_on_the_form(
    client, nurse, oncologist, monkeypatch
):
    monkeypatch.setattr("surveillance.services.records.clinic_today", lambda: TODAY)
    draw = DrawFactory(patient=PatientFactory(oncologist=oncologist), collected_on=days(-4))
    rows = [("ESR1", "D538G", "0.3"), ("ESR1", "Asp538", "1.2")]

    api = APIClient()
    api.force_authenticate(nurse)
    response = api.post(
        "/api/v1/results/",
        {"draw": draw.pk, "reported_on": str(TODAY), "status": "final",
         "variants": [{"gene": g, "protein_change": p, "vaf_percent": v} for g, p, v in rows]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    api_rows = response.json()["variants"]
    assert list(api_rows) == ["1"] and list(api_rows["1"]) == ["protein_change"]

    client.force_login(nurse)
    data = {"reported_on": str(TODAY), "status": "final", "variants-TOTAL_FORMS": "2",
            "variants-INITIAL_FORMS": "0"}  # fmt: skip
    for i, (gene, change, vaf) in enumerate(rows):
        data |= {f"variants-{i}-gene": gene, f"variants-{i}-protein_change": change,
                 f"variants-{i}-vaf_percent": vaf}  # fmt: skip
    page = client.post(f"/draws/{draw.id}/result/", data)
    assert page.status_code == 200
    form_rows = page.context["formset"].forms
    assert not form_rows[0].errors
    assert form_rows[1].errors == api_rows["1"]
    assert not Result.objects.filter(draw=draw).exists()


def test_a_variant_row_error_is_a_row_error():
    error = VariantRowError(0, "vaf_percent", "Give the VAF.", row_count=1)
    assert isinstance(error, RowError) and isinstance(error, ValidationError)
    assert error.messages == ["Variant 1, VAF: Give the VAF."]

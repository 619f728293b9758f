"""`{% row_url %}` gives the links of long tables as `{% url %}` gives them."""

import pytest
from django.urls import reverse, set_script_prefix

from surveillance.templatetags.row_links import row_url_of

NAMES = [("patient-detail", 1), ("draw-create", 1), ("result-create", 1), ("alert-resolve", 1),
         ("policy-version", 1), ("patient-summary", 1)]  # fmt: skip


@pytest.mark.parametrize(("name", "arity"), NAMES)
@pytest.mark.parametrize("value", [0, 7, 81234, 7130492865, 10**12])
def test_the_same_url_as_reverse(name, arity, value):
    assert row_url_of(name, *[value] * arity) == reverse(name, args=[value] * arity)


def test_under_a_script_prefix_too():
    try:
        set_script_prefix("/esr1/")
        assert row_url_of("patient-detail", 42) == "/esr1/patients/42/"
        set_script_prefix("/")
        assert row_url_of("patient-detail", 42) == "/patients/42/"
    finally:
        set_script_prefix("/")


def test_arguments_that_are_not_ids_go_through_reverse():
    assert row_url_of("patient-detail", "42") == reverse("patient-detail", args=["42"])
    assert row_url_of("home") == reverse("home")

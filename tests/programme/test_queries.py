"""The hand-written SQL takes its table and column names from the models."""

import pytest
from django.core.exceptions import FieldDoesNotExist

from programme import queries
from surveillance.models import Alert, Draw


def test_names_are_the_models_quoted_table_and_column_names():
    assert str(queries._Names(Draw)) == '"surveillance_draw"'
    assert queries._Names(Draw).due_date == '"due_date"'
    assert queries._Names(Draw).patient == '"patient_id"'  # a foreign key's column
    assert f"{queries._Names(Alert)}" == '"surveillance_alert"'


def test_a_field_the_model_does_not_have_fails_loudly():
    with pytest.raises(FieldDoesNotExist):
        _ = queries._Names(Draw).due_on


@pytest.mark.parametrize(
    "statement",
    [
        queries.patients_sql, queries.draws_sql, queries.results_sql, queries.alerts_sql,
        queries.decisions_sql,
    ],
)  # fmt: skip
def test_every_statement_is_complete(statement):
    sql = statement()
    # Every placeholder filled: only parameters (%(name)s) and regex repeats remain.
    assert "{" not in sql.replace("{1,18}", "").replace("{4}", "").replace("{2}", "")
    assert '"surveillance_' in sql or '"patients_' in sql

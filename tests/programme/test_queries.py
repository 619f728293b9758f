"""The hand-written SQL takes its table and column names from the models."""

import pytest
from django.core.exceptions import FieldDoesNotExist

from programme import queries
from surveillance import programme_facts
from surveillance.models import Alert, Draw
from surveillance.programme_facts import Names


def test_names_are_the_models_quoted_table_and_column_names():
    assert str(Names(Draw)) == '"surveillance_draw"'
    assert Names(Draw).due_date == '"due_date"'
    assert Names(Draw).patient == '"patient_id"'  # a foreign key's column
    assert f"{Names(Alert)}" == '"surveillance_alert"'


def test_a_field_the_model_does_not_have_fails_loudly():
    with pytest.raises(FieldDoesNotExist):
        _ = Names(Draw).due_on


@pytest.mark.parametrize(
    "statement",
    [
        queries.patients_sql, queries.events_sql, programme_facts._refresh_sql,
        lambda: "".join(programme_facts._rebuild_sql()),
    ],
)  # fmt: skip
def test_every_statement_is_complete(statement):
    sql = statement()
    # Every placeholder filled: only parameters (%(name)s) and regex repeats remain.
    assert "{" not in sql.replace("{1,18}", "").replace("{4}", "").replace("{2}", "")
    assert '"surveillance_' in sql or '"patients_' in sql

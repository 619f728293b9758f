"""The engine's hand-written SQL held against the models: a field added to Draw, Alert,
SurveillanceState or their history (pghistory event) models must stop the engine with the
column's name, not make it write incomplete rows."""

import re

import pghistory
import pytest
from django.db import connection, transaction
from django.utils import timezone
from pghistory import core as pghistory_core
from pghistory.models import Context

from surveillance import bulk, engine
from surveillance.models import Alert, Draw, SurveillanceState

pytestmark = pytest.mark.django_db

INSERTS = {
    "_CREATE_PLANNED": Draw,
    "_CREATE_ALERTS": Alert,
    "_STORE_STATES": SurveillanceState,
}
PARAMS = {"rows": "[]", "now": timezone.now(), "today": "2026-06-15", "version": 1}


def columns(model) -> set[str]:
    """Every column of the model's table that an INSERT must name (all but a serial id)."""
    return {f.column for f in model._meta.concrete_fields if not f.primary_key or f.is_relation}


def inserted_columns(sql: str, table: str) -> set[str]:
    listed = re.search(rf'INSERT INTO "{table}"(?: AS \w+)? \(([^)]*)\)', sql).group(1)
    return {name.strip().strip('"') for name in listed.split(",")}


def explain(sql: str, **params) -> None:
    """Have Postgres plan the statement against the real tables (no row is written)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, {**PARAMS, **params})


def test_every_engine_insert_is_every_statement_the_engine_writes_with():
    found = {name for name, value in vars(engine).items() if isinstance(value, bulk.Insert)}
    assert found == set(INSERTS), "a new INSERT: add it to INSERTS above"


@pytest.mark.parametrize("name", sorted(INSERTS))
def test_engine_inserts_name_every_column_of_their_table(name):
    statement, model = getattr(engine, name), INSERTS[name]
    assert statement.model is model
    assert set(statement.values) == columns(model)
    assert inserted_columns(statement.sql, model._meta.db_table) == columns(model)
    explain(statement.sql)


@pytest.mark.parametrize("name", ["_CREATE_PLANNED", "_CREATE_ALERTS"])
def test_history_copy_names_every_column_of_the_event_table(name):
    statement, model = getattr(engine, name), INSERTS[name]
    (event_model,) = pghistory_core.event_models(tracks_model=model)
    sql = bulk.with_history(model, statement.sql)
    assert inserted_columns(sql, event_model._meta.db_table) == columns(event_model)
    explain(sql, history_label="insert")


def test_a_column_without_a_value_is_refused_by_name(monkeypatch):
    """As if a field were added to Draw and the engine not told."""
    written = bulk.written_columns
    monkeypatch.setattr(
        bulk,
        "written_columns",
        lambda model: written(model) + (["courier"] if model is Draw else []),
    )
    statement = bulk.Insert(Draw, "d", engine._CREATE_PLANNED.values, engine._CREATE_PLANNED.rest)
    with pytest.raises(RuntimeError, match=r"surveillance_draw without a value for \['courier'\]"):
        statement.sql
    values = {**engine._CREATE_PLANNED.values, "courier": "''", "colour": "''"}
    with pytest.raises(RuntimeError, match=r"unknown columns \['colour'\]"):
        bulk.Insert(Draw, "d", values, "").sql


def test_an_event_column_the_engine_cannot_fill_is_refused_by_name(monkeypatch):
    """As if pghistory's event model for Draw gained a column (a pghistory upgrade, or its
    context stored another way)."""
    (event_model,) = pghistory_core.event_models(tracks_model=Draw)
    written = bulk.written_columns
    monkeypatch.setattr(
        bulk,
        "written_columns",
        lambda model: written(model) + (["pgh_diff"] if model is event_model else []),
    )
    build = bulk.with_history.__wrapped__  # past the cache of statements already built
    with pytest.raises(RuntimeError, match=r"surveillance_drawevent has columns \['pgh_diff'\]"):
        build(Draw, engine._CREATE_PLANNED.sql)

    monkeypatch.setattr(
        bulk,
        "written_columns",
        lambda model: [c for c in written(model) if c != "pgh_context_id"],
    )
    with pytest.raises(RuntimeError, match=r"surveillance_drawevent has no \['pgh_context_id'\]"):
        build(Draw, engine._CREATE_PLANNED.sql)


def test_pghistory_attach_context_function_returns_the_current_context():
    """The engine's history rows take their context from _pgh_attach_context(), a private
    SQL function of pghistory (see EVENT_COLUMNS in surveillance/bulk.py). A pghistory
    upgrade that drops or renames it fails here first, by name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('_pgh_attach_context()') IS NOT NULL")
        assert cursor.fetchone()[0], (
            "pghistory no longer installs the SQL function _pgh_attach_context(); the "
            "engine's history rows (surveillance/bulk.py, with_history) need another way "
            "to their pghistory context"
        )
    with (
        transaction.atomic(),
        pghistory.context(source="engine-sql-test") as context,
        connection.cursor() as cursor,
    ):
        # A WITH statement, as the engine's: pghistory sets its context settings before it
        # (it skips statements that start with SELECT).
        cursor.execute("WITH attached AS (SELECT _pgh_attach_context() AS id) TABLE attached")
        (attached,) = cursor.fetchone()
    assert attached == context.id
    assert Context.objects.get(id=context.id).metadata["source"] == "engine-sql-test"

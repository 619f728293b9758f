"""Set-wise SQL for the engine: fast reads of plain rows, and INSERTs whose column lists come
from the models.

Reads: `fetch_rows` runs a values_list() queryset's own SQL and fetches plain tuples; `any_id`
passes a batch's ids as one array parameter. Writes: `Insert` and `history_insert` build the
column lists of the engine's INSERT statements from the models' fields, so a field added to a
model (or to its pghistory event model) and not given a value here stops the engine with the
column's name, instead of writing rows without it or failing deep inside Postgres.
tests/surveillance/test_engine_sql.py holds every statement against the models.
"""

import functools
import json

from django.db import connection
from django.db.models.expressions import RawSQL
from pghistory import core as pghistory_core


def fetch_rows(queryset) -> list[tuple]:
    """The rows of a values_list() queryset as plain tuples.

    Runs the ORM's own SQL but fetches with one fetchall(): Django's per-row iteration
    (chunked fetchmany, converter checks, row tuples built twice) cost more than Postgres
    did for these queries. Only for columns that need no from_db_value conversion; JSON
    columns arrive as text (decode them with `from_json`)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def any_id(ids) -> RawSQL:
    """For `field__in=`: one array parameter instead of `IN (%s, %s, ...)` with 2,000 of
    them, which Django and psycopg otherwise prepare one by one on every query. Accepts the
    ids or, cheaper when reused, their array literal from `id_array`. (`= ANY(array)` reads
    better but is planned worse here: a hash join over every result, a scan of every
    variant.)"""
    return RawSQL("SELECT unnest(%s::bigint[])", (ids if isinstance(ids, str) else id_array(ids),))


def id_array(ids) -> str:
    return "{" + ",".join(map(str, ids)) + "}"


def from_json(value):
    """A JSON column fetched by `fetch_rows` (text), or already decoded (a model instance's)."""
    return json.loads(value) if isinstance(value, str) else value


def written_columns(model) -> list[str]:
    """The columns an INSERT into the model's table must name: all but a serial id. (A
    column with a database default is named too: Django marks it db_returning as well, but
    a history copy must carry the row's value, not the default.)"""
    return [f.column for f in model._meta.concrete_fields if not (f.primary_key and f.db_returning)]


class Insert:
    """`INSERT INTO <table> AS <alias> (<every column>) SELECT <their values> <rest>`.

    `values` maps each column of the model to its SQL value; the column list is the model's
    own (`written_columns`), checked when the statement is first used, when the models are
    loaded: a column without a value, or a value for no column, is refused with its name."""

    def __init__(self, model, alias: str, values: dict[str, str], rest: str):
        self.model, self.alias, self.values, self.rest = model, alias, values, rest

    @functools.cached_property
    def sql(self) -> str:
        columns = written_columns(self.model)
        table = self.model._meta.db_table
        missing = [c for c in columns if c not in self.values]
        unknown = sorted(set(self.values) - set(columns))
        if missing or unknown:
            raise RuntimeError(
                f"the engine writes rows of {table} without a value for "
                f"{missing or 'no column'} and with values for unknown columns "
                f"{unknown or 'none'}; give every column of {self.model._meta.label} a "
                "value in surveillance/engine.py"
            )
        quote = connection.ops.quote_name
        return (
            f"INSERT INTO {quote(table)} AS {self.alias} ({', '.join(map(quote, columns))})\n"
            f"SELECT {', '.join(self.values[c] for c in columns)}\n{self.rest}"
        )


# The pghistory columns of an event row, filled as pghistory's own row trigger fills them
# (pghistory/trigger.py, Event.get_func). pgh_context_id comes from _pgh_attach_context(),
# a private SQL function pghistory installs (its migrations 0004 and 0007,
# Context.install_pgh_attach_context_func): it upserts the context row named by the
# transaction's pghistory.context_id / pghistory.context_metadata settings, which
# pghistory.context() sets on every statement, and returns its id. This is the only place
# the engine calls it; tests/surveillance/test_engine_sql.py fails if it disappears or stops
# returning the current context.
EVENT_COLUMNS = ("pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id")


@functools.cache
def with_history(model, statement: str) -> str:
    """`statement`, a write ending in `RETURNING <alias>.*`, followed in the same statement by
    the insert of the rows it changed into the model's pghistory event table, labelled by the
    parameter `%(history_label)s` ("insert" or "update").

    The event table's columns are those of the model it copies from each changed row plus
    pghistory's four (EVENT_COLUMNS); any other column is refused with its name."""
    (event_model,) = pghistory_core.event_models(tracks_model=model)
    event_table = event_model._meta.db_table
    tracked = {f.column for f in model._meta.concrete_fields}
    columns = written_columns(event_model)
    unknown = [c for c in columns if c not in tracked and c not in EVENT_COLUMNS]
    if unknown:
        raise RuntimeError(
            f"{event_table} has columns {unknown} that are neither {model._meta.db_table}'s "
            "nor pghistory's the engine fills (EVENT_COLUMNS in surveillance/bulk.py)"
        )
    lacking = [c for c in EVENT_COLUMNS if c not in columns]
    if lacking:
        raise RuntimeError(
            f"{event_table} has no {lacking}: its rows are no longer pghistory's as the engine "
            "writes them (EVENT_COLUMNS in surveillance/bulk.py)"
        )
    quote = connection.ops.quote_name
    values = {c: quote(c) for c in columns}  # a tracked column: copied from the changed row
    values.update(
        pgh_context_id="(SELECT _pgh_attach_context())",
        pgh_created_at="NOW()",
        pgh_label="%(history_label)s",
        pgh_obj_id=quote(model._meta.pk.column),
    )
    return (
        f"WITH changed AS ({statement})\n"
        f"INSERT INTO {quote(event_table)} ({', '.join(map(quote, columns))})\n"
        f"SELECT {', '.join(values[c] for c in columns)} FROM changed"
    )

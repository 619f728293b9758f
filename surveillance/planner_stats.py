"""Fresh planner statistics after a run or a load that changed a large share of a table.

Postgres plans every query on the statistics ANALYZE last gathered. Autovacuum refreshes them
a minute or so after a table changed by a tenth, but a first run straight after a bulk load,
or a second run straight after a first that planned 50,000 draws, would plan on the old
picture (a table analysed empty is read with nested loops as if it still were). So the large
runs of the engine and seed_cohort check the tables they read and write as they end, and the
engine again as a large run starts (a previous process's counts reach Postgres's statistics
shortly after it ends), and ANALYZE those that changed by more than autovacuum would wait for.
The application's role does not own the tables, so it analyses them through a function of the
owner's (config/dbroles.py, installed by every migrate).
"""

import logging

from django.apps import apps
from django.db import DatabaseError, ProgrammingError, connection

from config import dbroles

logger = logging.getLogger(__name__)

# Autovacuum's defaults (autovacuum_analyze_scale_factor 0.1), with a floor so that small
# tables, which plan the same either way, are left to autovacuum.
SHARE = 0.1
FLOOR = 1000
UNDEFINED_FUNCTION = "42883"
APPS = ("patients", "surveillance")
# A partial index this many pages (of 8 kB: a few thousand entries) past twice its size at
# the last ANALYZE marks its table stale.
INDEX_PAGES = 8


def tables() -> list[str]:
    """The tables of the apps the engine reads and writes (history tables included)."""
    return sorted(
        {
            model._meta.db_table
            for label in APPS
            for model in apps.get_app_config(label).get_models()
            if not model._meta.proxy and model._meta.managed
        }
    )


def stale_tables(names: list[str] | None = None) -> list[str]:
    """Those of `names` (default: tables()) changed by more than SHARE since last analysed,
    or with a partial index that has more than doubled since (by more than INDEX_PAGES).

    The second: a run that plans 52,000 draws changes 7% of 750,000 draws, which autovacuum
    waits for, but every planned draw is new, and a planner that believes there are none
    reads the nurses' draw lists through the wrong index (150 ms instead of 1 ms). A partial
    index holds exactly such a subset, and ANALYZE records its size."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.relname
            FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
            WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)
              AND s.n_mod_since_analyze >= %s
              AND (
                s.n_mod_since_analyze >= %s * greatest(c.reltuples, 0)
                OR EXISTS (
                  SELECT 1 FROM pg_index AS i JOIN pg_class AS ic ON ic.oid = i.indexrelid
                  WHERE i.indrelid = c.oid AND i.indpred IS NOT NULL
                    AND pg_relation_size(ic.oid) / current_setting('block_size')::int
                        > 2 * greatest(ic.relpages, 1) + %s
                )
              )
            ORDER BY s.relname
            """,
            [names or tables(), FLOOR, SHARE, INDEX_PAGES],
        )
        return [name for (name,) in cursor.fetchall()]


def refresh(names: list[str] | None = None) -> list[str]:
    """ANALYZE the stale tables among `names`; returns them. Not inside a caller's
    transaction (ANALYZE's lock would be held to its end), where it does nothing."""
    if connection.in_atomic_block:
        return []
    flush_own_counts()
    stale = stale_tables(names)
    if stale:
        analyze(stale)
        logger.info("Planner statistics refreshed for %s", ", ".join(stale))
    return stale


def flush_own_counts() -> None:
    """Make this connection's row counts reach the statistics now: Postgres 15+ flushes them
    when the backend next goes idle, i.e. at the end of the statement below, instead of up to
    a second later (or after the connection has gone). Outside a transaction only."""
    if connection.connection is None or connection.in_atomic_block:
        return
    try:
        if connection.pg_version >= 150000:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_stat_force_next_flush()")
                cursor.execute("SELECT 1")  # the flush happened when the previous one ended
    except DatabaseError:  # a broken connection has no counts worth waiting for
        logger.debug("Could not flush this connection's statistics", exc_info=True)


def analyze(names: list[str]) -> None:
    """ANALYZE these tables now, through the owner's function (config/dbroles.py): the
    application's role does not own them, and its own ANALYZE would skip them with a warning."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {dbroles.ANALYZE_FUNCTION}(%s::text[])", [list(names)])
        return
    except ProgrammingError as error:
        if getattr(error.__cause__, "sqlstate", None) != UNDEFINED_FUNCTION:
            raise
    # A database not migrated since the function came: as before, which only the owner can.
    logger.warning(
        "%s() is missing (run migrate): ANALYZE as this connection's role, which skips the"
        " tables it does not own",
        dbroles.ANALYZE_FUNCTION,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in names))

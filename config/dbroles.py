"""Two database roles, so the running application cannot alter the audit (SPEC section 1).

- The owner (`DATABASE_OWNER_URL`, default `DATABASE_URL`) owns the tables: migrations run as
  it (`manage.py migrate` switches to it by itself), and after every migrate it grants the
  application role what the application needs (`grant_app_role`, run on post_migrate).
- The application role (settings.DATABASE_ROLES["app_role"]) may read and write the clinical
  tables but only SELECT and INSERT the audit: the history (pghistory event) tables, the
  history context table and the access logs (every table an append-only trigger guards). It
  has no UPDATE, DELETE or TRUNCATE there, so `SET pgtrigger.ignore` (which switches the
  append-only triggers off for a session) does not let it rewrite the evidence.

With two URLs the application logs in as its own role (docker compose: a role with a
password, created by the grant). With a single `DATABASE_URL` (`make run`'s embedded Postgres,
a quick install) the grant creates a NOLOGIN role, makes the owner a member, and every
application connection starts with `-c role=<app role>` (like SET ROLE). A session can switch
a SET ROLE back, so a production install should give two URLs.

Plumbing: imports no app; the tables are found from the installed models.
"""

import re
from contextlib import contextmanager

import pgtrigger
from django.conf import settings
from django.db import connections

ALIAS = "default"
_state = {"owner": False}


def _apply(role: dict) -> None:
    """Point the default connection at `role`'s login (the next query reconnects)."""
    connection = connections[ALIAS]
    connection.close()
    db = connection.settings_dict  # the same dict as settings.DATABASES["default"]
    for key in ("USER", "PASSWORD", "HOST", "PORT"):
        db[key] = role[key]
    options = db.setdefault("OPTIONS", {})
    options["options"] = with_role_option(options.get("options", ""), role.get("SET_ROLE"))


def with_role_option(options: str, role: str | None) -> str:
    """libpq `options` without any `-c role=...`, plus `-c role=<role>` when given."""
    kept = re.sub(r"\s*-c\s*role=\S+", "", options).strip()
    return f"{kept} -c role={role}".strip() if role else kept


def connect_as_owner() -> None:
    _state["owner"] = True
    _apply(settings.DATABASE_ROLES["owner"])


def connect_as_app() -> None:
    _state["owner"] = False
    _apply(settings.DATABASE_ROLES["app"])


@contextmanager
def as_owner():
    """The default connection as the owner inside the block (migrations), then as before."""
    was_owner = _state["owner"]
    connect_as_owner()
    try:
        yield
    finally:
        if not was_owner:
            connect_as_app()


def audit_tables() -> list[str]:
    """Tables the application may only read and append to: every table an append-only
    (pgtrigger Protect on UPDATE or DELETE) trigger guards, every pghistory event table, and
    pghistory's context table."""
    from pghistory import core as pghistory_core
    from pghistory.models import Context

    tables = {Context._meta.db_table}
    tables |= {model._meta.db_table for model in pghistory_core.event_models()}
    for model, trigger in pgtrigger.registered():
        if isinstance(trigger, pgtrigger.Protect) and (
            "UPDATE" in str(trigger.operation) or "DELETE" in str(trigger.operation)
        ):
            tables.add(model._meta.db_table)
    return sorted(tables)


# pghistory's context upsert, as the owner (SECURITY DEFINER): the application role has no
# UPDATE on the context table, yet a transaction that adds to its own context (nested
# pghistory.context blocks) must still be able to. Only a context created in this same
# transaction (created_at is the transaction's NOW()) is updated: the attribution of past
# changes cannot be rewritten by setting pghistory.context_id to an old context's id.
_ATTACH_CONTEXT = """
CREATE OR REPLACE FUNCTION _pgh_attach_context() RETURNS {table}.id%TYPE
SECURITY DEFINER SET search_path FROM CURRENT AS $$
    DECLARE
        _pgh_context_id UUID;
        _pgh_context_metadata JSONB;
    BEGIN
        BEGIN
            SELECT INTO _pgh_context_id CURRENT_SETTING('pghistory.context_id');
            SELECT INTO _pgh_context_metadata CURRENT_SETTING('pghistory.context_metadata');
            EXCEPTION WHEN OTHERS THEN
        END;
        IF _pgh_context_id IS NOT NULL AND _pgh_context_metadata IS NOT NULL THEN
            INSERT INTO {table} (id, metadata, created_at, updated_at)
                VALUES (_pgh_context_id, _pgh_context_metadata, NOW(), NOW())
                ON CONFLICT (id) DO UPDATE
                    SET metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at
                    WHERE {table}.metadata != EXCLUDED.metadata
                      AND {table}.created_at = NOW();
            RETURN _pgh_context_id;
        ELSE
            RETURN NULL;
        END IF;
    END;
$$ LANGUAGE plpgsql
"""


# Fresh planner statistics (surveillance/planner_stats.py), as the owner (SECURITY DEFINER):
# ANALYZE needs the table's owner (before Postgres 17's MAINTAIN privilege), and run by the
# application's role it skips every table with only a warning, so the engine and seed_cohort
# would plan on whatever statistics autovacuum last left, or none. Only ANALYZE, and only of
# the schema's own tables, named one by one; it changes no row.
ANALYZE_FUNCTION = "esr1_analyze"
_ANALYZE = """
CREATE OR REPLACE FUNCTION {name}(tables text[]) RETURNS integer
SECURITY DEFINER SET search_path FROM CURRENT AS $$
    DECLARE
        _table text;
        _done integer := 0;
    BEGIN
        FOREACH _table IN ARRAY tables LOOP
            IF EXISTS (
                SELECT FROM pg_tables WHERE schemaname = current_schema() AND tablename = _table
            ) THEN
                EXECUTE format('ANALYZE %I', _table);
                _done := _done + 1;
            END IF;
        END LOOP;
        RETURN _done;
    END;
$$ LANGUAGE plpgsql
"""


def grant_app_role(using: str = ALIAS) -> str:
    """As the owner: create the application role if needed and grant it exactly what the
    application needs. Idempotent; run after every migrate. Returns the role's name."""
    from pghistory.models import Context

    roles = settings.DATABASE_ROLES
    app = roles["app_role"]
    connection = connections[using]
    quote = connection.ops.quote_name
    role = quote(app)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app])
        exists = cursor.fetchone() is not None
        login = roles["app"]["USER"] == app and not roles["app"].get("SET_ROLE")
        if not exists:
            cursor.execute(f"CREATE ROLE {role} {'LOGIN' if login else 'NOLOGIN'}")
        if login and roles["app"]["PASSWORD"]:
            # Psycopg quotes the literal; ALTER ROLE takes no bind parameters.
            password = cursor.mogrify("%s", [roles["app"]["PASSWORD"]])
            cursor.execute(f"ALTER ROLE {role} LOGIN PASSWORD {password}")
        if not login:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if not cursor.fetchone()[0]:
                cursor.execute(f"GRANT {role} TO current_user")  # so it may SET ROLE
        database = quote(connection.settings_dict["NAME"])
        cursor.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(
            f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {role}"
        )
        audit = ", ".join(quote(table) for table in audit_tables())
        cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {audit} FROM {role}, PUBLIC")
        # Tables a later migration creates are usable at once (the next grant narrows the audit).
        cursor.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
        )
        cursor.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
        )
        cursor.execute(_ATTACH_CONTEXT.format(table=quote(Context._meta.db_table)))
        cursor.execute(_ANALYZE.format(name=ANALYZE_FUNCTION))
    return app


def grant_after_migrate(sender, using=ALIAS, **kwargs) -> None:
    """post_migrate, once per migrate (for the last app, after pghistory has installed its
    own context function, which this one replaces)."""
    from django.apps import apps

    # Django sends post_migrate for each app that has models, in INSTALLED_APPS order.
    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if sender is with_models[-1]:
        grant_app_role(using=using)

"""What both benchmarks need before Django is set up: which Postgres server to use."""

import os
from urllib.parse import urlsplit, urlunsplit

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/"


def server_url() -> str:
    """The Postgres server: BENCH_SERVER_URL (kept for child processes), else DATABASE_URL."""
    return os.environ.get("BENCH_SERVER_URL") or os.environ.get("DATABASE_URL") or DEFAULT_SERVER


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def configure_environment(database: str, root) -> None:
    """Point this process (and the children it starts) at `database` on the bench server,
    with production settings, before Django is set up."""
    import sys

    server = server_url()
    os.environ["BENCH_SERVER_URL"] = server
    os.environ["DATABASE_URL"] = with_database(server, database)
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def admin_execute(sql: str) -> None:
    """One statement on the server's maintenance database (CREATE / DROP DATABASE)."""
    import psycopg

    with psycopg.connect(with_database(server_url(), "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def connect_as_owner() -> None:
    """After django.setup(): this process talks to the database as its owner, not as the
    application's restricted role (config/dbroles.py). Preparing a bench database needs it
    (VACUUM ANALYZE, superuser-only settings); processes the bench starts (gunicorn, the
    worker) still connect as the application does."""
    from config import dbroles

    dbroles.connect_as_owner()

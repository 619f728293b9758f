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

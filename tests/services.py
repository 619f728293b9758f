"""Pytest plugin loaded before Django: choose the real services the suite talks to.

DATABASE_URL / REDIS_URL win when set; otherwise the Postgres and Redis on
127.0.0.1 when they answer; otherwise the embedded servers under .data/.
"""

import os
import socket
import uuid


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _configure() -> None:
    from config import embedded

    if not os.environ.get("DATABASE_URL"):
        if _port_open(5432):
            os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/esr1watch"
        else:
            os.environ["DATABASE_URL"] = embedded.ensure_postgres()
    if not os.environ.get("REDIS_URL"):
        if _port_open(6379):
            # A database of its own so the suite never touches a running demo.
            os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"
        else:
            os.environ["REDIS_URL"] = embedded.ensure_redis()
    # The suite runs with production settings, minus what needs TLS or a phone.
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "test-only-" + "x" * 40)
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("MFA_REQUIRED", "false")
    os.environ.setdefault("STATIC_ROOT", str(embedded.DATA_DIR / "test-static"))
    # A queue per run: a worker started by the suite only sees the suite's tasks.
    os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"test-{uuid.uuid4().hex[:8]}")


_configure()

"""Pytest plugin loaded before Django: choose the real services the suite talks to, and
own the suite's clock.

DATABASE_URL / REDIS_URL win when set; otherwise the Postgres and Redis on
127.0.0.1 when they answer; otherwise the embedded servers under .data/.

The clock: `--today=YYYY-MM-DD` (or ESR1_TEST_TODAY) moves the whole process to noon of
that day in the clinic's zone for the whole run (time-machine, ticking), so the dates the
factories build and the dates the services read agree on any calendar day. Without it the
suite's "today" is fixed once, when the run starts. Tests whose subprocesses or browser read
the machine's own clock are marked `wallclock` and left out of a run at another date.
"""

import os
import socket
import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

_suite_today: date | None = None
_travel = None


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
    # Under pytest-xdist each process gets its own static files, queue (and test database,
    # which pytest-django names per process).
    process = os.environ.get("PYTEST_XDIST_WORKER", "")
    if process:
        os.environ["STATIC_ROOT"] = str(embedded.DATA_DIR / f"test-static-{process}")
    else:
        os.environ.setdefault("STATIC_ROOT", str(embedded.DATA_DIR / "test-static"))
    # A queue per run: a worker started by the suite only sees the suite's tasks.
    queue = f"test-{uuid.uuid4().hex[:8]}"
    if process:
        os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"{queue}-{process}"
    else:
        os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", queue)


_configure()


def pytest_addoption(parser):
    parser.addoption(
        "--today",
        default=os.environ.get("ESR1_TEST_TODAY", ""),
        metavar="YYYY-MM-DD",
        help="run the suite as if today were this date in the clinic's zone",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "wallclock: reads the machine's real clock (a subprocess, a worker, a browser)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Before any conftest imports the factories, which build their dates from this.
    global _suite_today, _travel
    zone = ZoneInfo(os.environ.get("TIME_ZONE") or "UTC")
    wanted = early_config.known_args_namespace.today
    if not wanted:
        _suite_today = datetime.now(zone).date()
        return
    try:
        _suite_today = date.fromisoformat(wanted)
    except ValueError:
        raise pytest.UsageError(f"--today must be a date like 2028-02-29, not {wanted!r}") from None
    import time_machine

    # Noon leaves twelve hours before the ticking clock could reach another day.
    _travel = time_machine.travel(datetime.combine(_suite_today, time(12), zone), tick=True)
    _travel.start()


def pytest_unconfigure(config):
    if _travel is not None:
        _travel.stop()


def pytest_collection_modifyitems(config, items):
    kept, wallclock = [], []
    for item in items:
        if item.get_closest_marker("worker") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.wallclock)
        (wallclock if item.get_closest_marker("wallclock") else kept).append(item)
    if config.getoption("--today") and wallclock:
        # Deselected, and reported as such: at another date these would test the machine's
        # calendar against the suite's, not the product.
        config.hook.pytest_deselected(items=wallclock)
        items[:] = kept


def pytest_report_header(config):
    moved = " (clock moved there)" if config.getoption("--today") else ""
    return f"suite today: {suite_today().isoformat()}{moved}"


def suite_today() -> date:
    """The suite's fixed "today"; factories and tests build their dates from it."""
    assert _suite_today is not None, "the tests.services plugin configures the date first"
    return _suite_today

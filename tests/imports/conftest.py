import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accounts.roles import Role
from tests.conftest import _test_database_url
from tests.tokens import forget_rate_limits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab(db):
    """A laboratory's interface account."""
    from accounts.services import user_create

    return user_create(username="lab-guardant", role=Role.INTERFACE, password=None)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    forget_rate_limits()
    yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def listener(django_db_setup, django_db_blocker):
    """A real `manage.py hl7_listener` process on a free port, on the test database."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=_test_database_url(),
        SECRET_KEY="test-listener-" + "x" * 40,
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"hl7_listener exited: {proc.stdout.read()}") from None
            time.sleep(0.2)
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()

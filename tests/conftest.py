import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import user_create
from config import dbroles

ROOT = Path(__file__).resolve().parent.parent
# Real hashing costs ~0.3 s per user; the suite creates hundreds. Login tests still check
# passwords end to end, just with a cheap hasher.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PASSWORD = "a-long-test-passphrase"

# The suite runs as the database owner: it creates, migrates and flushes its database, and a
# flush truncates the audit tables, which the application's own role may not
# (config/dbroles.py). tests/security/test_db_roles.py connects as the application's role.
dbroles.connect_as_owner()

# Property tests: a quick profile on a developer's machine, the full one in CI (CI=true), or
# whichever HYPOTHESIS_PROFILE names.
hypothesis_settings.register_profile("ci", max_examples=300, deadline=None)
hypothesis_settings.register_profile("dev", max_examples=40, deadline=None)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session", autouse=True)
def _collected_static():
    # Production storage serves hashed files from a manifest; build it once.
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def _empty_database_at_start(django_db_setup, django_db_blocker):
    """--reuse-db keeps the test database between runs; a run that was killed part-way (a
    module-scoped cohort, a transactional test) can leave rows behind. Start from none."""
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Data migrations load the drug catalogue, policy v1 and the assay profiles; a
    transactional test's flush wipes them, so put them back for any test that uses the
    database."""
    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
        "live_server",
        "client",
        "admin_client",
    } & set(request.fixturenames)
    if not uses_db:
        return
    request.getfixturevalue("transactional_db" if _is_transactional(request) else "db")
    load_reference_data()


@pytest.fixture(autouse=True)
def _worklist_totals_counted_afresh():
    """The worklist and the patient list keep totals for a minute (surveillance.
    worklist_counts), but tests change data without a request, and one test's totals (or
    noted writes) must not show in the next."""
    from surveillance import worklist_counts

    worklist_counts.start_afresh()
    yield


def load_reference_data() -> None:
    """The drug catalogue and policy v1, where a flush removed them."""
    from patients.drugs import CATALOGUE
    from patients.models import Drug
    from surveillance.assays import PROFILES
    from surveillance.models import AssayProfile, SurveillancePolicy

    if Drug.objects.count() != len(CATALOGUE):
        for code, name, drug_class, note in CATALOGUE:
            Drug.objects.update_or_create(
                code=code, defaults={"name": name, "drug_class": drug_class, "status_note": note}
            )
    if not SurveillancePolicy.objects.exists():
        SurveillancePolicy.objects.create(
            version=1, note="Starting defaults of the surveillance programme"
        )
    if AssayProfile.objects.count() != len(PROFILES):
        for code, name, limit in PROFILES:
            AssayProfile.objects.get_or_create(
                code=code, defaults={"name": name, "limit_of_detection_pct": limit}
            )


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture
def make_user(db):
    def make(username: str, role: str = Role.NURSE, **extra):
        return user_create(username=username, role=role, password=PASSWORD, **extra)

    return make


@pytest.fixture
def oncologist(make_user):
    return make_user("onc", Role.ONCOLOGIST, first_name="Ada", last_name="Osei")


@pytest.fixture
def nurse(make_user):
    return make_user("nurse", Role.NURSE, first_name="Kim", last_name="Park")


@pytest.fixture
def admin_user(make_user):
    return make_user("administrator", Role.ADMIN, first_name="Lee", last_name="Admin")


@pytest.fixture
def api():
    """`api(user)` is a client signed in as `user`; `api()` is anonymous."""

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    host = db["HOST"] or "127.0.0.1"
    from urllib.parse import quote

    return f"postgres://{db['USER']}@{quote(host, safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery worker` process on the real Redis, reading the test database.

    Module-scoped: a worker left running for the rest of the session would evaluate the
    patients that later tests commit, concurrently with their clean-up (a flush's TRUNCATE
    then deadlocks with the worker's reads)."""
    env = dict(os.environ, DATABASE_URL=_test_database_url(), PYTHONUNBUFFERED="1")
    hostname = f"test-{os.getpid()}@{socket.gethostname()}"
    (ROOT / ".data").mkdir(exist_ok=True)
    log = open(ROOT / ".data" / "test-worker.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--loglevel", "info", "--concurrency", "2", "--pool", "prefork",
            "--queues", settings.CELERY_TASK_DEFAULT_QUEUE, "--without-gossip",
            "--without-mingle", "--hostname", hostname,
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    from config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early; see {log.name}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            break
    else:
        proc.kill()
        raise RuntimeError(f"celery worker did not answer within 60 s; see {log.name}")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


# --- Headless Chromium (tests/browser, tests/security/test_csp.py) ----------------------

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if not path:
        pytest.fail(
            "Chromium is not installed, so the browser tests cannot run. "
            "Install it with: apt-get install -y chromium  (or set CHROMIUM_PATH)."
        )
    # Playwright's sync API runs an event loop in this thread; the test still talks to
    # the database synchronously between browser steps.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def plain_static_storage(settings):
    """For the live server: it serves /static/ from the finders, which know the source names
    only; the hashed names of the production storage are tested by the collectstatic step."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

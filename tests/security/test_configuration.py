"""Every variable of the configuration table (SPEC section 6) does what it says.

Settings are read once per process, so each case imports them in a fresh interpreter with
exactly the environment it names; nothing of the suite's own environment leaks in.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_KEY = "k3Y-" + "a1B2c3D4e5F6g7H8i9J0" * 3


def run_settings(env: dict[str, str], code: str, *, setup=False) -> subprocess.CompletedProcess:
    """Run `code` under `env` (plus PATH and the settings module) once the settings are
    loaded; with `setup`, after django.setup() too (for code that needs the apps; it costs
    about a second)."""
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    script = "import django, json\nfrom django.conf import settings\nsettings.DEBUG\n"
    if setup:
        script += "django.setup()\n"
    script += code
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def settings_under(env: dict[str, str], *names: str, extra: str = "") -> dict:
    values = ", ".join(f"{name!r}: settings.{name}" for name in names)
    code = f"{extra}\nprint(json.dumps({{{values}}}, default=str))"
    result = run_settings(env, code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def production(**env) -> dict[str, str]:
    return {"SECRET_KEY": PRODUCTION_KEY, **env}


# --- DEBUG, SECRET_KEY -------------------------------------------------------------------


def test_debug_is_off_unless_asked_for():
    values = settings_under(production(), "DEBUG", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS")

    assert values == {
        "DEBUG": False, "SESSION_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 31536000,
    }  # fmt: skip
    assert settings_under(production(DEBUG="true"), "DEBUG") == {"DEBUG": True}


@pytest.mark.parametrize("key", [None, ""])
def test_without_a_secret_key_production_settings_refuse_to_load(key):
    env = {} if key is None else {"SECRET_KEY": key}

    result = run_settings(env, "print('loaded')")

    assert result.returncode != 0
    assert "loaded" not in result.stdout
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is false" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr  # says how to make one


def test_debug_generates_a_secret_key_once_and_keeps_it_private(tmp_path):
    env = {"DEBUG": "true", "ESR1_DATA_DIR": str(tmp_path / "data")}

    first = settings_under(env, "SECRET_KEY")["SECRET_KEY"]
    second = settings_under(env, "SECRET_KEY")["SECRET_KEY"]

    key_file = tmp_path / "data" / "secret_key"
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = settings_under({**env, "ESR1_DATA_DIR": str(tmp_path / "other")}, "SECRET_KEY")
    assert other["SECRET_KEY"] != first


def test_a_given_secret_key_is_used_as_is_even_in_debug(tmp_path):
    env = {"DEBUG": "true", "SECRET_KEY": PRODUCTION_KEY, "ESR1_DATA_DIR": str(tmp_path)}

    assert settings_under(env, "SECRET_KEY") == {"SECRET_KEY": PRODUCTION_KEY}
    assert not (tmp_path / "secret_key").exists()


# --- Defaults that follow DEBUG ----------------------------------------------------------


def test_mfa_and_https_redirect_default_on_in_production_and_off_in_debug(tmp_path):
    names = ("MFA_REQUIRED", "SECURE_SSL_REDIRECT")

    assert settings_under(production(), *names) == dict.fromkeys(names, True)
    debug = {"DEBUG": "true", "ESR1_DATA_DIR": str(tmp_path)}
    assert settings_under(debug, *names) == dict.fromkeys(names, False)


def test_mfa_and_https_redirect_can_be_switched_explicitly(tmp_path):
    names = ("MFA_REQUIRED", "SECURE_SSL_REDIRECT")
    off = production(MFA_REQUIRED="false", SECURE_SSL_REDIRECT="false")
    on = {"DEBUG": "true", "ESR1_DATA_DIR": str(tmp_path), "MFA_REQUIRED": "true",
          "SECURE_SSL_REDIRECT": "true"}  # fmt: skip

    assert settings_under(off, *names) == dict.fromkeys(names, False)
    assert settings_under(on, *names) == dict.fromkeys(names, True)


# --- Hosts, time zone, e-mail, sessions --------------------------------------------------


def test_allowed_hosts_default_and_comma_separated_list():
    default = settings_under(production(), "ALLOWED_HOSTS")
    given = settings_under(
        production(ALLOWED_HOSTS="esr1.example-clinic.org, 10.0.0.5 ,"), "ALLOWED_HOSTS"
    )

    assert default == {"ALLOWED_HOSTS": ["127.0.0.1", "localhost"]}
    assert given == {"ALLOWED_HOSTS": ["esr1.example-clinic.org", "10.0.0.5"]}


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_clinic_today_is_the_date_in_the_configured_time_zone(zone):
    # UTC+14 and UTC-11 are never on the same date, so a today taken in UTC or in the
    # wrong zone would fail one of the two cases.
    code = (
        "from datetime import datetime\nfrom zoneinfo import ZoneInfo\n"
        "from patients.models import clinic_today\n"
        "print(json.dumps([str(clinic_today()), str(datetime.now(ZoneInfo(settings.TIME_ZONE))"
        ".date()), settings.TIME_ZONE, settings.CELERY_TIMEZONE]))"
    )
    result = run_settings(production(TIME_ZONE=zone), code, setup=True)
    assert result.returncode == 0, result.stderr
    today, expected, time_zone, celery_zone = json.loads(result.stdout)

    assert today == expected
    assert time_zone == celery_zone == zone


def test_time_zone_defaults_to_utc():
    assert settings_under(production(), "TIME_ZONE") == {"TIME_ZONE": "UTC"}


def test_email_defaults_to_the_console_and_takes_an_smtp_url():
    console = settings_under(production(), "EMAIL_BACKEND")
    smtp = settings_under(
        production(EMAIL_URL="smtp+tls://digest%40clinic.org:s3cret@mail.example.org:587"),
        "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
    )  # fmt: skip

    assert console == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    assert smtp == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.org",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "digest@clinic.org",
        "EMAIL_HOST_PASSWORD": "s3cret",
        "EMAIL_USE_TLS": True,
    }


@pytest.mark.parametrize(("minutes", "seconds"), [(None, 900), ("30", 1800)])
def test_session_idle_minutes_sets_the_idle_logoff(minutes, seconds):
    env = production() if minutes is None else production(SESSION_IDLE_MINUTES=minutes)

    values = settings_under(env, "SESSION_COOKIE_AGE", "SESSION_SAVE_EVERY_REQUEST")

    assert values == {"SESSION_COOKIE_AGE": seconds, "SESSION_SAVE_EVERY_REQUEST": True}


# --- API tokens and proxies ----------------------------------------------------------------


def test_api_token_hours_sets_the_token_lifetime():
    code = (
        "from datetime import timedelta\n"
        "print(json.dumps([settings.API_TOKEN_HOURS, "
        "settings.REST_KNOX['TOKEN_TTL'] == timedelta(hours=settings.API_TOKEN_HOURS)]))"
    )
    for hours, expected in ((None, 12), ("4", 4)):
        env = production() if hours is None else production(API_TOKEN_HOURS=hours)
        result = run_settings(env, code)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [expected, True]


def test_api_token_hours_must_be_at_least_one():
    result = run_settings(production(API_TOKEN_HOURS="0"), "print('loaded')")
    assert result.returncode != 0
    assert "API_TOKEN_HOURS must be a whole number of hours, at least 1" in result.stderr


def test_trusted_proxies_default_to_none_and_take_addresses_and_networks():
    assert settings_under(production(), "TRUSTED_PROXIES") == {"TRUSTED_PROXIES": []}
    given = settings_under(
        production(TRUSTED_PROXIES="10.0.0.5, 172.18.0.0/16 ,fd00::1"), "TRUSTED_PROXIES"
    )
    assert given == {"TRUSTED_PROXIES": ["10.0.0.5/32", "172.18.0.0/16", "fd00::1/128"]}


def test_a_mistyped_trusted_proxy_stops_the_start_and_says_what_to_give():
    result = run_settings(production(TRUSTED_PROXIES="10.0.0.5,proxy.internal"), "print(1)")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network" in result.stderr


# --- Data stores -------------------------------------------------------------------------


def test_database_and_redis_urls():
    env = production(
        DATABASE_URL="postgres://esr1:p%40ss@db.internal:6543/esr1watch",
        REDIS_URL="redis://cache.internal:6380/2",
    )
    code = (
        "db = settings.DATABASES['default']\n"
        "print(json.dumps([db['ENGINE'], db['HOST'], db['PORT'], db['NAME'], db['USER'],"
        " db['PASSWORD'], settings.CACHES['default']['LOCATION'], settings.CELERY_BROKER_URL]))"
    )
    result = run_settings(env, code)
    assert result.returncode == 0, result.stderr

    assert json.loads(result.stdout) == [
        "django.db.backends.postgresql", "db.internal", 6543, "esr1watch", "esr1", "p@ss",
        "redis://cache.internal:6380/2", "redis://cache.internal:6380/2",
    ]  # fmt: skip


def test_unix_socket_urls_of_the_embedded_servers():
    env = production(
        DATABASE_URL="postgres://postgres@%2Fwork%2F.data%2Fpg/esr1watch",
        REDIS_URL="unix:///work/.data/redis.sock",
    )
    code = (
        "print(json.dumps([settings.DATABASES['default']['HOST'],"
        " settings.CACHES['default']['LOCATION'], settings.CELERY_BROKER_URL]))"
    )
    result = run_settings(env, code)
    assert result.returncode == 0, result.stderr

    assert json.loads(result.stdout) == [
        "/work/.data/pg",
        "unix:///work/.data/redis.sock",
        "redis+socket:///work/.data/redis.sock",
    ]


# --- PORT --------------------------------------------------------------------------------


def test_make_run_serves_on_port(monkeypatch):
    from config import devserver, embedded

    started = []

    class ExitedProcess:
        pid = 0

        def __init__(self, cmd, **kwargs):
            started.append(cmd)

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("HL7_PORT", "9575")
    monkeypatch.setattr(embedded, "ensure_embedded_services", lambda: [])
    monkeypatch.setattr(devserver, "_run", lambda cmd: None)
    monkeypatch.setattr(devserver.subprocess, "Popen", ExitedProcess)
    monkeypatch.setattr(devserver.signal, "signal", lambda *args: None)

    devserver.main()

    (web,) = [cmd for cmd in started if "gunicorn" in cmd]
    assert web[web.index("--bind") + 1] == "127.0.0.1:9123"
    (hl7,) = [cmd for cmd in started if "hl7_listener" in cmd]
    assert hl7[hl7.index("--port") + 1] == "9575"
    assert hl7[hl7.index("--host") + 1] == "127.0.0.1"


def test_make_run_with_debug_off_starts_without_demo_data_and_says_so_in_one_line(
    django_db_setup,
):
    from tests.conftest import _test_database_url

    env = dict(os.environ, DEBUG="false", DATABASE_URL=_test_database_url())
    result = subprocess.run(
        [sys.executable, "-m", "config.devserver", "--prepare-only"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "DEBUG is off, so no demo data or demo users are loaded" in result.stdout
    assert "Demo logins" not in result.stdout


def _compose_config(**env):
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed: apt-get install -y docker-compose"
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env}, cwd=ROOT,
    )  # fmt: skip


def test_docker_compose_publishes_port_on_loopback_unless_told_otherwise():
    result = _compose_config(
        SECRET_KEY="compose-check", POSTGRES_PASSWORD="p", APP_DB_PASSWORD="a", PORT="9123"
    )

    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:9123:8000" in result.stdout
    assert "127.0.0.1:2575:2575" in result.stdout  # the HL7 MLLP listener

    public = _compose_config(
        SECRET_KEY="compose-check", POSTGRES_PASSWORD="p", APP_DB_PASSWORD="a", PORT="9123",
        BIND_ADDRESS="0.0.0.0",
    )  # fmt: skip
    assert "0.0.0.0:9123:8000" in public.stdout


def test_docker_compose_refuses_to_start_without_a_database_password():
    result = _compose_config(SECRET_KEY="compose-check")

    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
    assert "esr1watch@postgres" not in result.stdout
    without_app_password = _compose_config(SECRET_KEY="compose-check", POSTGRES_PASSWORD="p")
    assert without_app_password.returncode != 0
    assert "APP_DB_PASSWORD" in without_app_password.stderr


def test_docker_compose_runs_the_app_as_its_own_role_and_only_migrate_holds_the_owner():
    import yaml

    result = _compose_config(
        SECRET_KEY="compose-check", POSTGRES_PASSWORD="owner-pw", APP_DB_PASSWORD="app-pw"
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]

    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://esr1watch_app:app-pw@"), name
        assert ("DATABASE_OWNER_URL" in env) == (name == "migrate"), name
        assert "owner-pw" not in str(services[name]) or name == "migrate", name
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]


def test_the_web_access_log_never_records_a_query_string(tmp_path):
    """gunicorn with the project's own settings file: a search for a patient's name reaches
    the server, and the name does not reach the log."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "access.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(log)],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                url = f"http://127.0.0.1:{port}/healthz?search=Okafor+MRN0042"
                request = urllib.request.Request(url, headers={"Referer": url})
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                    assert response.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=20)

    written = log.read_text()
    assert "GET /healthz HTTP/1.1" in written
    assert "Okafor" not in written and "MRN0042" not in written and "search" not in written

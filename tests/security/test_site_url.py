"""SITE_URL, the address links in e-mails point to (README configuration table)."""

import pytest

from tests.security.test_configuration import production, run_settings, settings_under


def site_url(env: dict[str, str]) -> str:
    return settings_under(env, "SITE_URL")["SITE_URL"]


def test_set_explicitly_it_is_used_without_its_trailing_slash():
    assert site_url(production(SITE_URL="https://esr1.clinic.example/")) == (
        "https://esr1.clinic.example"
    )


def test_under_debug_it_is_the_local_server_on_port():
    env = production(DEBUG="true", PORT="8123")

    assert site_url(env) == "http://127.0.0.1:8123"


def test_otherwise_it_is_https_on_the_first_allowed_host():
    env = production(ALLOWED_HOSTS="esr1.clinic.example, localhost")

    assert site_url(env) == "https://esr1.clinic.example"


@pytest.mark.parametrize(
    "env",
    [
        production(ALLOWED_HOSTS="*"),
        production(ALLOWED_HOSTS=".clinic.example"),
        production(SITE_URL="esr1.clinic.example"),
        production(SITE_URL="ftp://esr1.clinic.example"),
    ],
)
def test_a_wildcard_host_or_an_address_that_is_no_web_address_is_refused(env):
    result = run_settings(env, "print(settings.SITE_URL)")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SITE_URL must be" in result.stderr

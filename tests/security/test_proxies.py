"""X-Forwarded-For and X-Forwarded-Proto are believed only from TRUSTED_PROXIES: they decide
the address the lockout and the API rate limits count, and whether a request came over
HTTPS. From anyone else both are ignored, so a client cannot pick its own address to dodge
a lockout, nor claim HTTPS."""

import pytest
from axes.models import AccessAttempt

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
PROXY = "10.20.0.2"


@pytest.fixture
def https_required(settings):
    settings.SECURE_SSL_REDIRECT = True
    return settings


def test_without_trusted_proxies_x_forwarded_proto_is_not_believed(client, https_required):
    assert https_required.TRUSTED_PROXIES == []
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=PROXY)
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/login/"


def test_a_trusted_proxy_says_the_request_came_over_https(client, https_required):
    https_required.TRUSTED_PROXIES = [PROXY]
    assert (
        client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=PROXY).status_code == 200
    )
    # Anyone else saying so is not believed, the proxy saying "http" neither.
    assert (
        client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.20.0.3").status_code
        == 301
    )
    assert (
        client.get("/login/", HTTP_X_FORWARDED_PROTO="http", REMOTE_ADDR=PROXY).status_code == 301
    )


def test_a_trusted_network(client, https_required):
    https_required.TRUSTED_PROXIES = ["10.20.0.0/24"]
    assert (
        client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.20.0.77").status_code
        == 200
    )
    assert (
        client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.20.1.77").status_code
        == 301
    )


def sign_in(client, password, *, remote=PROXY, forwarded_for=None):
    headers = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post("/login/", {"username": "nurse", "password": password}, **headers)


def test_a_client_cannot_choose_its_address_to_dodge_the_lockout(client, nurse):
    # Not a trusted proxy: every guess comes from the connection's address, whatever the
    # header says.
    for i in range(4):
        assert (
            sign_in(client, "wrong", remote="10.30.0.1", forwarded_for=f"192.0.2.{i}").status_code
            == 200
        )
    assert (
        sign_in(client, "wrong", remote="10.30.0.1", forwarded_for="192.0.2.99").status_code == 429
    )
    assert (
        sign_in(client, PASSWORD, remote="10.30.0.1", forwarded_for="192.0.2.100").status_code
        == 429
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.30.0.1"}


def test_behind_a_trusted_proxy_each_client_has_its_own_address(client, settings, nurse):
    settings.TRUSTED_PROXIES = [PROXY]
    for _ in range(5):
        sign_in(client, "wrong", forwarded_for="192.0.2.10")
    assert sign_in(client, PASSWORD, forwarded_for="192.0.2.10").status_code == 429
    # Another client behind the same proxy is not locked out with the first.
    assert sign_in(client, PASSWORD, forwarded_for="192.0.2.11").status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.10"}


def test_the_address_is_the_nearest_one_no_trusted_proxy_vouches_for(client, settings, nurse):
    settings.TRUSTED_PROXIES = [PROXY, "10.20.0.9"]
    # A client wrote "198.51.100.1" itself; 192.0.2.20 connected to the outer proxy
    # 10.20.0.9, which forwarded to PROXY.
    sign_in(client, "wrong", forwarded_for="198.51.100.1, 192.0.2.20, 10.20.0.9")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["192.0.2.20"]


def test_garbled_forwarded_for_counts_as_the_proxy(client, settings, nurse):
    settings.TRUSTED_PROXIES = [PROXY]
    sign_in(client, "wrong", forwarded_for="not-an-address")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [PROXY]


def throttled(client, **headers) -> bool:
    """A token request refused by the rate limit (not by the lockout, also a 429)."""
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "nobody", "password": "x"},
        content_type="application/json",
        **headers,
    )
    return response.status_code == 429 and "Retry-After" in response


def test_the_api_rate_limit_counts_the_same_address(client, settings):
    # Untrusted: X-Forwarded-For does not make a new client for the rate limit either.
    answers = [
        throttled(client, REMOTE_ADDR="10.30.0.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        for i in range(11)
    ]
    assert answers == [False] * 10 + [True]
    # Behind a trusted proxy, the client's address is what counts.
    settings.TRUSTED_PROXIES = [PROXY]
    for _ in range(10):
        throttled(client, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.50")
    assert throttled(client, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.50")
    assert not throttled(client, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.51")

import pytest

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_token_endpoint_returns_a_token_that_authenticates(client, nurse):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) >= 40
    again = client.post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": PASSWORD},
        content_type="application/json",
    )
    assert again.json()["token"] == token


@pytest.mark.django_db
def test_token_endpoint_refuses_bad_credentials_without_saying_which(client, nurse):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "nurse", "password": "nope"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to sign in with the details given."]}


@pytest.mark.django_db
def test_token_endpoint_requires_both_fields(client):
    response = client.post("/api/v1/auth/token/", {}, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}

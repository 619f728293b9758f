import pytest
from rest_framework.test import APIClient

from tests.factories import TODAY


@pytest.fixture(autouse=True)
def clinic_today(monkeypatch):
    """Pin the services' "today" to the factories' TODAY, so dates built from it stay
    consistent even when a run crosses midnight."""
    monkeypatch.setattr("patients.services.clinic_today", lambda: TODAY)
    return TODAY


@pytest.fixture
def api():
    """`api(user)` is a client signed in as `user`; `api()` is anonymous."""

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for

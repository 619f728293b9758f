import pytest

from tests.factories import TODAY


@pytest.fixture(autouse=True)
def clinic_today(monkeypatch):
    """Pin the services' "today" to the factories' TODAY, so dates built from it stay
    consistent even when a run crosses midnight."""
    monkeypatch.setattr("patients.services.clinic_today", lambda: TODAY)
    return TODAY

import pytest

from accounts.roles import Role
from tests.tokens import forget_rate_limits


@pytest.fixture
def lab(db):
    """A laboratory's interface account."""
    from accounts.services import user_create

    return user_create(username="lab-guardant", role=Role.INTERFACE, password=None)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    forget_rate_limits()
    yield

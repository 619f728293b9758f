import pytest

from tests.tokens import forget_rate_limits


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # The token endpoint takes a few attempts a minute from one address; every test here
    # signs in from the same few addresses.
    forget_rate_limits()

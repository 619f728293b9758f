from pathlib import Path

import pytest

# The `browser` fixture and `plain_static_storage` live in tests/conftest.py.
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"


@pytest.fixture(autouse=True)
def _plain_static_storage(plain_static_storage):
    pass


@pytest.fixture
def screenshots(request):
    folder = OUTPUT / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def shoot(page, name: str) -> Path:
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot

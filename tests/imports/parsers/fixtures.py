from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()

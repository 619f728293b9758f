"""Placeholder until the engine lands; keeps imports working."""

from dataclasses import asdict, dataclass


@dataclass
class RunStats:
    evaluated: int = 0
    eligible: int = 0
    planned: int = 0
    opened: int = 0
    resolved: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def run_for_patients(patient_ids, *, today=None, actor=None) -> RunStats:
    return RunStats()


def run_marked(*, today=None) -> RunStats:
    return RunStats()


def run_all(*, today=None) -> RunStats:
    return RunStats()

"""Imaging around an ESR1 switch (SPEC section 5.6).

SERENA-6 switched the aromatase inhibitor to a SERD only in patients whose scans showed no
radiographic progression, so a `switched` decision is confirmed by a recent scan without PD,
and the ESR1 alert shows the last scan wherever it is decided on.

Plain values in, plain values out, like surveillance.rules: the reads are in
surveillance.selectors (`last_scans`) and the check in surveillance.services.decisions.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from patients.models import Modality, Response

PROGRESSION = Response.PD


@dataclass(frozen=True)
class Scan:
    """One imaging assessment."""

    id: int
    on: date
    modality: str
    response: str

    @classmethod
    def of(cls, assessment) -> "Scan":
        return cls(assessment.id, assessment.date, assessment.modality, assessment.response)

    @property
    def is_progression(self) -> bool:
        return self.response == PROGRESSION

    def describe(self) -> str:
        """The scan in a few words, e.g. `CT 2026-11-02, stable disease`."""
        modality = Modality(self.modality).label if self.modality in Modality.values else "Scan"
        response = (
            Response(self.response).label.lower()
            if self.response in Response.values
            else self.response
        )
        return f"{modality} {self.on.isoformat()}, {response}"


@dataclass(frozen=True)
class LastScan:
    """The most recent scan of a patient as of `today` (None: no imaging on record)."""

    scan: Scan | None
    today: date

    @property
    def days_ago(self) -> int | None:
        return None if self.scan is None else (self.today - self.scan.on).days

    @property
    def is_progression(self) -> bool:
        return self.scan is not None and self.scan.is_progression

    @property
    def text(self) -> str:
        """E.g. `Last scan: CT 2026-11-02, stable disease, 31 days ago`, or
        `No imaging on record`."""
        if self.scan is None:
            return "No imaging on record"
        return f"Last scan: {self.scan.describe()}, {_ago(self.days_ago)}"

    def __str__(self) -> str:
        return self.text


def _ago(days: int) -> str:
    if days == 0:
        return "today"
    if days == 1:
        return "1 day ago"
    if days < 0:  # dated ahead of today: shown as entered
        return f"in {-days} day{'s' if days != -1 else ''}"
    return f"{days} days ago"


def latest(scans) -> Scan | None:
    """The most recent scan; on a day with several, a PD one (progression is what matters)."""
    return max(scans, key=lambda s: (s.on, s.is_progression, s.id), default=None)


def confirming_scan(scans, *, switch_date: date, window_days: int) -> Scan | None:
    """The scan that confirms a switch on `switch_date`: the most recent one without PD dated
    within `window_days` before the switch date (not after it), with no PD scan on or after
    it up to the switch date. None when there is none: the switch then needs a note."""
    upto = [s for s in scans if s.on <= switch_date]
    last_progression = max((s.on for s in upto if s.is_progression), default=None)
    window_start = switch_date - timedelta(days=window_days)
    candidates = [
        s
        for s in upto
        if not s.is_progression
        and s.on >= window_start
        and (last_progression is None or s.on > last_progression)
    ]
    return max(candidates, key=lambda s: (s.on, s.id), default=None)

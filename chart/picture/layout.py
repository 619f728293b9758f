"""Where things go: the date axis every row shares, the log VAF scale, stacking of marks
that would collide, date ticks. Plain numbers in and out; no markup here.

SVG user units throughout; the viewBox scales them to the container.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from chart.picture.words import MONTHS

GUTTER = 112  # left column for row names and VAF tick labels
RIGHT_PAD = 24
TOP = 24  # room for the "Today" label above everything
PAD_DAYS = 30  # date padding either side of the events

VAF_FLOOR = 0.05  # values below are clamped here, still clearly above "not detected"
VAF_FLOOR_LOW = 0.01  # used instead when a result reports below VAF_FLOOR


@dataclass(frozen=True)
class DateAxis:
    """Date -> x on the shared axis."""

    start: date
    end: date
    left: float
    right: float

    def x(self, d: date) -> float:
        span = max((self.end - self.start).days, 1)
        return self.left + (d - self.start).days / span * (self.right - self.left)


@dataclass(frozen=True)
class Frame:
    """What every section needs to place its marks: the axis, the width, today."""

    axis: DateAxis
    width: int
    today: date

    @property
    def today_x(self) -> float:
        return self.axis.x(self.today)


def frame_for(dates: list[date], *, today: date, width: int) -> Frame:
    """The frame whose axis spans ``dates`` and today, with a little room either side."""
    dates = [today, *dates]
    start = min(dates) - timedelta(days=PAD_DAYS)
    end = max(dates) + timedelta(days=PAD_DAYS)
    return Frame(DateAxis(start, end, GUTTER, width - RIGHT_PAD), width, today)


@dataclass(frozen=True)
class LogScale:
    """VAF % -> y on the log area; the "not detected" row lies below ``bottom``."""

    floor: float
    ceiling: float
    top: float
    bottom: float

    def y(self, vaf: float) -> float:
        lo, hi = math.log10(self.floor), math.log10(self.ceiling)
        v = math.log10(min(max(vaf, self.floor), self.ceiling))
        return self.bottom - (v - lo) / (hi - lo) * (self.bottom - self.top)

    def decades(self) -> list[float]:
        """The gridline values, from the ceiling down to the floor."""
        out = []
        decade = self.ceiling
        while decade >= self.floor * 0.999:
            out.append(decade)
            decade /= 10
        return out


def vaf_scale(all_vafs: list[float], top: float, bottom: float) -> LogScale:
    """A log scale fitted to the data: the floor drops a decade for a result below
    ``VAF_FLOOR``; the ceiling is the decade above the highest value (at least 1%), so a
    0.4% finding gets the whole height up to 1%, not a sliver."""
    floor = VAF_FLOOR_LOW if any(v < VAF_FLOOR for v in all_vafs) else VAF_FLOOR
    # 5% headroom so a value on a decade does not sit on the top edge.
    ceiling = 10 ** max(0, math.ceil(math.log10(max(all_vafs, default=0.5) * 1.05)))
    ceiling = min(max(ceiling, 1.0), 100.0)
    return LogScale(floor, ceiling, top, bottom)


def stack(xs: list[float], spacing: float, max_rows: int | None = None) -> list[int]:
    """Greedy sub-row per mark (xs in ascending order) so that no two marks closer than
    ``spacing`` share a row; past ``max_rows`` the last row takes the overlap."""
    rows_end: list[float] = []
    out = []
    for x in xs:
        for i, end in enumerate(rows_end):
            if x - end >= spacing:
                rows_end[i] = x
                out.append(i)
                break
        else:
            if max_rows is not None and len(rows_end) >= max_rows:
                rows_end[-1] = x
                out.append(len(rows_end) - 1)
            else:
                rows_end.append(x)
                out.append(len(rows_end) - 1)
    return out


def add_months(d: date, months: int) -> date:
    """The first day of the month ``months`` after ``d``'s."""
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def ticks(axis: DateAxis) -> tuple[list[tuple[date, str]], list[date]]:
    """Labelled (major) and unlabelled (minor) date ticks: month starts at a step that
    leaves room for the labels, years alone past a year's step, mid-months when zoomed in."""
    days = (axis.end - axis.start).days
    px_per_month = (axis.right - axis.left) / (days / 30.44)
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if s * px_per_month >= 66), 120)
    major: list[tuple[date, str]] = []
    minor: list[date] = []
    d = add_months(axis.start, 1)
    minor_step = 1 if px_per_month >= 8 else 3
    while d <= axis.end:
        index = d.year * 12 + d.month - 1
        if index % step == 0:
            label = str(d.year) if step >= 12 else f"{MONTHS[d.month - 1]} {d.year}"
            major.append((d, label))
        elif index % minor_step == 0:
            minor.append(d)
        d = add_months(d, 1)
    if px_per_month >= 120:  # a range of a few months: mid-month ticks help
        d = axis.start
        while d <= axis.end:
            if d.day == 15:
                minor.append(d)
            d += timedelta(days=1)
    return major, minor

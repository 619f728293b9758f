"""What an ESR1 alert's evidence means, in plain words.

For each variant in the alert: how it has gone in the patient's results since it was first
detected on the surveillance treatment ("D538G: 0.4% on 2026-06-01, 1.2% on 2026-08-03
(rising, still detected)"). And the context a clinician should weigh before acting on it:
a detection before six months on first-line therapy or on exemestane (both outside what
SERENA-6 studied), and a VAF below the assay's stated limit of reliable detection.

Pure like the rules: plain data in, sentences out; no ORM, no clock. The pages build the
inputs from rows they load in bulk (surveillance.selectors.alert_readings).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from surveillance.rules import AROMATASE_INHIBITORS, format_vaf

__all__ = [
    "SERENA6_AROMATASE_INHIBITORS",
    "SERENA6_MIN_DAYS_ON_FIRST_LINE",
    "Course",
    "DetectionLimit",
    "Measurement",
    "Point",
    "Reading",
    "context_notes",
    "drugs_named",
    "read_alert",
    "variant_course",
]

# SERENA-6 monitored patients after at least 6 months of first-line letrozole or anastrozole
# with a CDK4/6 inhibitor.
SERENA6_MIN_DAYS_ON_FIRST_LINE = 182
SERENA6_AROMATASE_INHIBITORS = frozenset({"letrozole", "anastrozole"})

# A course longer than this shows its first point, a count, and the latest ones.
_MAX_POINTS_SHOWN = 5
_LATEST_SHOWN = 3


class Measurement(NamedTuple):
    """One final result of the patient: when its draw was collected, on which assay, and the
    ESR1 variants it lists (short form -> VAF %, None when the laboratory gave none)."""

    collected_on: date
    assay: str
    variants: Mapping[str, float | None]
    result_id: int = 0


class DetectionLimit(NamedTuple):
    """An assay's stated limit of reliable detection (VAF %), as the admins keep it."""

    assay_name: str
    percent: float | None
    confirmed: bool = False


class Point(NamedTuple):
    on: date
    detected: bool
    vaf_percent: float | None
    assay: str


@dataclass(frozen=True)
class Course:
    """One variant's results from its first detection on, oldest first."""

    short: str
    points: tuple[Point, ...]
    # first_only | still_detected | detected_again | not_detected
    status: str
    # rising | falling | unchanged, latest detection against the one before; None without two
    # detections with a VAF
    trend: str | None
    text: str

    @property
    def first_detected_on(self) -> date:
        return self.points[0].on

    @property
    def detections(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.detected)


@dataclass(frozen=True)
class Reading:
    """What the pages show under an alert's rationale."""

    courses: tuple[Course, ...] = ()
    notes: tuple[str, ...] = ()
    # (drug name, catalogue status note) for each catalogue drug the alert's text names
    drug_notes: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.courses or self.notes or self.drug_notes)


# --------------------------------------------------------------------------------------------
# The course of one variant
# --------------------------------------------------------------------------------------------


def variant_course(
    short: str, measurements: Iterable[Measurement], *, since: date | None = None
) -> Course | None:
    """The course of `short` from its first detection (on or after `since`) through every
    later final result; None when no result from `since` on lists it.

    A later result that does not list the variant is "not detected" for it, whatever else it
    lists. The trend compares the latest detection with the one before it."""
    ordered = sorted(
        (m for m in measurements if since is None or m.collected_on >= since),
        key=lambda m: (m.collected_on, m.result_id),
    )
    first = next((i for i, m in enumerate(ordered) if short in m.variants), None)
    if first is None:
        return None
    points = tuple(
        Point(m.collected_on, short in m.variants, m.variants.get(short), m.assay)
        for m in ordered[first:]
    )
    status, trend = _status_and_trend(points)
    return Course(short, points, status, trend, _course_text(short, points, status, trend))


def _status_and_trend(points: tuple[Point, ...]) -> tuple[str, str | None]:
    latest = points[-1]
    if not latest.detected:
        return "not_detected", None
    if len(points) == 1:
        return "first_only", None
    earlier = [i for i, p in enumerate(points[:-1]) if p.detected]
    previous = points[earlier[-1]]
    gap = earlier[-1] < len(points) - 2  # a "not detected" between the two detections
    status = "detected_again" if gap else "still_detected"
    if previous.vaf_percent is None or latest.vaf_percent is None:
        return status, None
    if latest.vaf_percent > previous.vaf_percent:
        return status, "rising"
    if latest.vaf_percent < previous.vaf_percent:
        return status, "falling"
    return status, "unchanged"


def _point_text(point: Point) -> str:
    on = point.on.isoformat()
    if not point.detected:
        return f"not detected on {on}"
    if point.vaf_percent is None:
        return f"detected (VAF not reported) on {on}"
    return f"{format_vaf(point.vaf_percent)}% on {on}"


def _course_text(short: str, points: tuple[Point, ...], status: str, trend: str | None) -> str:
    shown = [_point_text(p) for p in points]
    if len(points) > _MAX_POINTS_SHOWN:
        hidden = len(points) - 1 - _LATEST_SHOWN
        shown = [shown[0], f"{hidden} more results", *shown[-_LATEST_SHOWN:]]
    if status == "not_detected":
        run_start = len(points) - 1
        while run_start > 0 and not points[run_start - 1].detected:
            run_start -= 1
        run = len(points) - run_start
        summary = (
            "not detected in the latest result"
            if run == 1
            else f"not detected in the last {run} results, since {points[run_start].on.isoformat()}"
        )
    elif status == "first_only":
        summary = "no later result yet"
    else:
        state = "detected again" if status == "detected_again" else "still detected"
        summary = f"{trend}, {state}" if trend else state
    return f"{short}: {', '.join(shown)} ({summary})"


# --------------------------------------------------------------------------------------------
# Context to weigh
# --------------------------------------------------------------------------------------------


def context_notes(
    *,
    kind: str,
    courses: Iterable[Course],
    treatment_start: date | None,
    endocrine_therapy: str | None,
    limits: Mapping[str, DetectionLimit],
) -> tuple[str, ...]:
    """Sentences a clinician should weigh with the alert, in a fixed order.

    The SERENA-6 notes (time on therapy, which AI) go with the switch alert only: they are
    about whether the trial's evidence fits this patient's switch. The detection-limit note
    goes with every ESR1 alert."""
    courses = list(courses)
    notes = []
    if kind == "esr1_switch":
        notes.extend(_serena6_notes(courses, treatment_start, endocrine_therapy))
    notes.extend(
        note for course in courses if (note := _below_limit_note(course, limits)) is not None
    )
    return tuple(notes)


def _serena6_notes(
    courses: list[Course], treatment_start: date | None, endocrine_therapy: str | None
) -> list[str]:
    notes = []
    if treatment_start is not None and courses:
        first_on = min(c.first_detected_on for c in courses)
        days_on = (first_on - treatment_start).days
        if 0 <= days_on < SERENA6_MIN_DAYS_ON_FIRST_LINE:
            notes.append(
                f"First detected on {first_on.isoformat()}, {days_on} days after first-line"
                f" therapy started on {treatment_start.isoformat()}: less than 6 months."
                " SERENA-6 enrolled patients after at least 6 months on first-line AI +"
                " CDK4/6 inhibitor."
            )
    if endocrine_therapy in AROMATASE_INHIBITORS - SERENA6_AROMATASE_INHIBITORS:
        notes.append(
            f"The aromatase inhibitor is {endocrine_therapy}: SERENA-6 used letrozole or"
            " anastrozole."
        )
    return notes


def _is_below_limit(point: Point, limits: Mapping[str, DetectionLimit]) -> bool:
    limit = limits.get(point.assay)
    return (
        limit is not None
        and limit.percent is not None
        and point.vaf_percent is not None
        and point.vaf_percent < limit.percent
    )


def _below_limit_note(course: Course, limits: Mapping[str, DetectionLimit]) -> str | None:
    """A note when every detection of the variant lies below its assay's stated limit (a VAF
    at the limit counts as reliable; one detection at or above it confirms the others)."""
    detections = course.detections
    if not detections or not all(_is_below_limit(p, limits) for p in detections):
        return None
    parts = []
    for point in detections:
        limit = limits[point.assay]
        unconfirmed = "" if limit.confirmed else ", a starting value not yet confirmed by the lab"
        parts.append(
            f"{format_vaf(point.vaf_percent)}% on {point.on.isoformat()} by {limit.assay_name},"
            f" whose stated limit is {format_vaf(limit.percent)}%{unconfirmed}"
        )
    all_ddpcr = all(p.assay == "ddpcr_esr1" for p in detections)
    advice = (
        "consider confirming it on a fresh sample"
        if all_ddpcr
        else "consider confirming it, e.g. by ddPCR"
    )
    found = "; ".join(parts)
    return (
        f"{course.short} was found below the assay's stated limit of reliable detection"
        f" ({found}): {advice}."
    )


# --------------------------------------------------------------------------------------------
# Drugs named in an alert
# --------------------------------------------------------------------------------------------


def drugs_named(text: str, catalogue: Mapping[str, tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(name, status note) of each catalogue drug `text` names, in catalogue order.

    `catalogue` maps a drug code to its (name, status note); a drug is named when its code or
    its name appears as a whole word, whatever the case."""
    found = []
    for code, (name, note) in catalogue.items():
        words = {re.escape(code), re.escape(name)}
        if re.search(rf"\b(?:{'|'.join(sorted(words))})\b", text, re.IGNORECASE):
            found.append((name, note))
    return tuple(found)


# --------------------------------------------------------------------------------------------
# One alert
# --------------------------------------------------------------------------------------------


def read_alert(
    *,
    kind: str,
    shorts: Iterable[str],
    measurements: Iterable[Measurement],
    treatment_start: date | None,
    endocrine_therapy: str | None,
    limits: Mapping[str, DetectionLimit],
) -> Reading:
    """The courses of the alert's variants (`shorts`, in the alert's order, each once) since
    the surveillance treatment started, and the context notes."""
    measurements = list(measurements)
    courses = []
    for short in dict.fromkeys(shorts):
        course = variant_course(short, measurements, since=treatment_start)
        if course is not None:
            courses.append(course)
    notes = context_notes(
        kind=kind,
        courses=courses,
        treatment_start=treatment_start,
        endocrine_therapy=endocrine_therapy,
        limits=limits,
    )
    return Reading(courses=tuple(courses), notes=notes)

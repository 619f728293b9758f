"""The picture's input: plain data, built by the page from the models (no ORM here).

Also how a draw reads on the picture (its marker kind, its usable VAFs), because every
section asks the same questions of it and must get the same answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class TreatmentBar:
    id: int
    start: date
    end: date | None
    label: str  # the drugs, e.g. "Letrozole + Palbociclib"
    line_number: int
    setting: str  # metastatic | adjuvant
    end_reason: str = ""
    is_surveillance: bool = False  # first-line AI + CDK4/6 inhibitor (SPEC 5.1)


@dataclass(frozen=True)
class AssessmentMark:
    id: int
    on: date
    modality: str
    response: str  # CR | PR | SD | PD | NE; PD is radiographic progression


@dataclass(frozen=True)
class VariantPoint:
    short: str  # short protein change, e.g. "D538G"
    vaf_percent: float | None  # None: reported without a VAF


@dataclass(frozen=True)
class DrawMark:
    number: int  # shared with the page's draw table (1..n in date order)
    id: int
    on: date
    status: str  # planned | collected | resulted
    esr1_status: str | None  # detected | not_detected | failed | None (no result yet)
    variants: tuple[VariantPoint, ...] = ()


@dataclass(frozen=True)
class TimelineData:
    today: date
    treatments: tuple[TreatmentBar, ...]
    assessments: tuple[AssessmentMark, ...]
    draws: tuple[DrawMark, ...]
    next_due: date | None = None
    title: str = "Treatment and ctDNA timeline"


# Results a VAF line passes through: "not detected" is a zero, anything else is a gap.
USABLE = ("detected", "not-detected")


def draw_kind(draw: DrawMark) -> str:
    """The marker kind of a draw: what the reader must tell apart at a glance."""
    if draw.status == "planned":
        return "planned"
    if draw.status == "resulted" and draw.esr1_status == "detected":
        return "detected"
    if draw.status == "resulted" and draw.esr1_status == "not_detected":
        return "not-detected"
    if draw.status == "resulted" and draw.esr1_status == "failed":
        return "failed"
    return "pending"  # collected, or resulted without a result attached yet


def vafs(draw: DrawMark) -> dict[str, float]:
    """Variant -> VAF of a draw with a usable result; the highest when listed twice."""
    out: dict[str, float] = {}
    for v in draw.variants:
        try:
            vaf = float(v.vaf_percent)
        except (TypeError, ValueError):
            continue
        if math.isfinite(vaf) and vaf > 0:
            out[v.short] = max(vaf, out.get(v.short, 0.0))
    return out


def first_detections(draws: list[DrawMark]) -> list[tuple[str, DrawMark, float]]:
    """(variant, draw, VAF) of each variant's first detection, in order of detection."""
    seen: dict[str, tuple[str, DrawMark, float]] = {}
    for d in draws:
        if draw_kind(d) != "detected":
            continue
        for short, vaf in vafs(d).items():
            seen.setdefault(short, (short, d, vaf))
    return list(seen.values())


def variant_order(draws: list[DrawMark]) -> list[str]:
    """Variants by first detection; the position picks the line style and the legend order."""
    return [short for short, _draw, _vaf in first_detections(draws)]

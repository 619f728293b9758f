"""The patient's treatment and ctDNA timeline as one inline SVG picture.

Pure: plain data in, an ``<svg>`` string out. No ORM, no clock ("today" is part of the
data), so every layout case (no events, one draw, 60 draws, same-day events, hostile
labels) is testable without a database.

The picture follows the cBioPortal patient view: treatment bars, scans and numbered
draws, and the ESR1 variant allele fraction (VAF) all share one date axis, so a reader
can drop a vertical line from a scan or a draw to the VAF at that moment. The VAF axis
is logarithmic because the first detection is typically below 1% (PADA-1) and must not
be flattened onto zero; "not detected" has its own baseline row below the log axis,
because the rise from "not detected" to detected (the emergence) is the signal.

No inline styles and no scripts: the app's Content-Security-Policy forbids them. All
appearance comes from classes styled in ``static/css/timeline.css``; shapes and dash
patterns, not colour alone, carry meaning so a black-and-white print still reads.

This module is the way in; the parts live in ``chart/picture/`` (see its ``__init__``).
"""

from __future__ import annotations

from chart.picture.data import (
    AssessmentMark,
    DrawMark,
    TimelineData,
    TreatmentBar,
    VariantPoint,
)
from chart.picture.picture import render

__all__ = [
    "AssessmentMark",
    "DrawMark",
    "TimelineData",
    "TreatmentBar",
    "VariantPoint",
    "render_timeline_svg",
]


def render_timeline_svg(data: TimelineData, *, width: int = 960, id_prefix: str = "tl") -> str:
    """The timeline as a complete ``<svg>`` element (see the module docstring).

    ``id_prefix`` keeps the ids of ``<title>``/``<desc>`` unique when a page shows more
    than one picture."""
    return render(data, width=width, id_prefix=id_prefix)

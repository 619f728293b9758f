"""Row 4: ESR1 variant allele fraction over time, one line per variant.

The VAF axis is logarithmic because the first detection is typically below 1% (PADA-1)
and must not be flattened onto zero. "Not detected" has its own baseline row below the
log axis, because the rise from "not detected" to detected (the emergence) is the signal.
A failed result is a hollow square on the baseline and a gap in the lines: not tested is
not a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from chart.picture.data import (
    USABLE,
    DrawMark,
    draw_kind,
    first_detections,
    vafs,
    variant_order,
)
from chart.picture.layout import Frame, LogScale, vaf_scale
from chart.picture.svg import esc, num, row_label, text_w
from chart.picture.words import DRAW_KINDS, long_date, vaf_text

VAF_H = 150  # log-scale area
VAF_GAP = 18  # axis break between the log area and the "not detected" row
BASE_ROW_H = 22
N_VARIANT_STYLES = 6  # tl-var-0..5 in timeline.css: colour + dash + marker shape

# A variant's value at one draw: (draw, VAF %, 0 when not detected), or None when the
# draw has no usable result (failed, awaiting, planned): a gap in the line.
Point = tuple[DrawMark, float] | None


@dataclass(frozen=True)
class VafChart:
    """Where the chart goes: the log area, the "not detected" row, the x extent."""

    scale: LogScale
    base_y: float  # the "not detected" baseline
    bottom: float
    left: float
    right: float

    def xy(self, frame: Frame, point: tuple[DrawMark, float]) -> tuple[float, float]:
        d, vaf = point
        return frame.axis.x(d.on), (self.scale.y(vaf) if vaf > 0 else self.base_y)


def place_vaf_chart(frame: Frame, draws: list[DrawMark], top: float) -> VafChart:
    all_vafs = [v for d in draws if draw_kind(d) in USABLE for v in vafs(d).values()]
    return VafChart(
        scale=vaf_scale(all_vafs, top, top + VAF_H),
        base_y=top + VAF_H + VAF_GAP + BASE_ROW_H / 2,
        bottom=top + VAF_H + VAF_GAP + BASE_ROW_H,
        left=frame.axis.left,
        right=frame.axis.right,
    )


def render_vaf_chart(
    out: list[str],
    frame: Frame,
    draws: list[DrawMark],
    guides: list[tuple[float, float]],
    top: float,
) -> float:
    """Writes the chart from ``top`` down; returns the y below it. ``guides`` are the
    draw markers' feet: a dotted line drops from each through the chart."""
    chart = place_vaf_chart(frame, draws, top)
    # Guides first so everything else draws over them.
    for x, y0 in guides:
        out.append(
            f'<line class="tl-guide" x1="{num(x)}" x2="{num(x)}" y1="{num(y0 + 1)}" '
            f'y2="{num(chart.bottom)}"/>'
        )
    _axes(out, chart, top)
    if not any(draw_kind(d) in (*USABLE, "failed") for d in draws):
        out.append(
            f'<text class="tl-note" x="{num((chart.left + chart.right) / 2)}" '
            f'y="{num(top + VAF_H / 2 + 4)}" text-anchor="middle">No ctDNA results yet</text>'
        )
    _baseline_marks(out, frame, chart, draws)
    for index, short in enumerate(variant_order(draws)):
        _variant_line(out, frame, chart, index, short, variant_points(draws, short))
    _first_detection_label(out, frame, chart, draws)
    return chart.bottom


def _axes(out: list[str], chart: VafChart, top: float) -> None:
    """The log area with its decade gridlines, the y axis broken above the "not detected"
    row (zero has no place on a log scale, so it gets a row of its own), the baseline."""
    left, right, base_y = chart.left, chart.right, chart.base_y
    row_label(out, top + VAF_H / 2 - 6, "ESR1 VAF", "log scale")
    out.append(
        f'<rect class="tl-vaf-area" x="{num(left)}" y="{num(top)}" '
        f'width="{num(right - left)}" height="{VAF_H}"/>'
    )
    for decade in chart.scale.decades():
        ty = chart.scale.y(decade)
        out.append(
            f'<line class="tl-vaf-grid" x1="{num(left)}" x2="{num(right)}" '
            f'y1="{num(ty)}" y2="{num(ty)}"/>'
        )
        out.append(
            f'<text class="tl-tick-label" x="{num(left - 6)}" y="{num(ty + 4)}" '
            f'text-anchor="end">{decade:g}%</text>'
        )
    out.append(
        f'<line class="tl-axis" x1="{num(left)}" x2="{num(left)}" y1="{num(top)}" '
        f'y2="{num(top + VAF_H)}"/>'
    )
    out.append(
        f'<line class="tl-axis" x1="{num(left)}" x2="{num(left)}" '
        f'y1="{num(top + VAF_H + VAF_GAP)}" y2="{num(chart.bottom)}"/>'
    )
    for dy in (4, 9):
        by = top + VAF_H + dy
        out.append(
            f'<line class="tl-axis-break" x1="{num(left - 5)}" x2="{num(left + 5)}" '
            f'y1="{num(by + 3)}" y2="{num(by - 3)}"/>'
        )
    out.append(
        f'<line class="tl-baseline" x1="{num(left)}" x2="{num(right)}" '
        f'y1="{num(base_y)}" y2="{num(base_y)}"/>'
    )
    row_label(out, base_y + 4, "Not detected")


def _baseline_marks(out: list[str], frame: Frame, chart: VafChart, draws: list[DrawMark]) -> None:
    """One mark per draw on the baseline, whatever the number of variants followed:
    a filled circle for "not detected", a hollow square for a failed result."""
    for d in draws:
        kind = draw_kind(d)
        if kind == "not-detected":
            shape = '<circle class="tl-base-mark" r="4.5"/>'
            tip = f"Draw {d.number}, {long_date(d.on)}: {DRAW_KINDS[kind]}"
        elif kind == "failed":
            shape = '<rect class="tl-base-mark" x="-5" y="-5" width="10" height="10"/>'
            tip = f"Draw {d.number}, {long_date(d.on)}: result failed (not tested)"
        else:
            continue
        out.append(
            f'<g class="tl-base tl-base-{kind}" data-number="{esc(d.number)}" '
            f'transform="translate({num(frame.axis.x(d.on))},{num(chart.base_y)})">'
            f"<title>{esc(tip)}</title>{shape}</g>"
        )


def variant_points(draws: list[DrawMark], short: str) -> list[Point]:
    """The variant's value at every draw: its VAF, 0 where the result did not find it,
    None where there is no usable result."""
    return [(d, vafs(d).get(short, 0.0)) if draw_kind(d) in USABLE else None for d in draws]


def joined_runs(points: list[Point]) -> list[list[tuple[DrawMark, float]]]:
    """The runs of consecutive points a line joins. A gap breaks the line; a step between
    two zeros is not drawn, so a line rises from the baseline (emergence) and falls back to
    it, and long runs of "not detected" are left to the baseline marks."""
    runs: list[list[tuple[DrawMark, float]]] = []
    run: list[tuple[DrawMark, float]] = []
    for a, b in zip(points, points[1:], strict=False):
        if a is None or b is None or (a[1] <= 0 and b[1] <= 0):
            if run:
                runs.append(run)
                run = []
            continue
        if not run:
            run = [a]
        run.append(b)
    if run:
        runs.append(run)
    return runs


def _variant_line(
    out: list[str], frame: Frame, chart: VafChart, index: int, short: str, points: list[Point]
) -> None:
    """The variant's polylines and a marked, titled point at each detection."""
    style = f"tl-var-{index % N_VARIANT_STYLES}"
    out.append(f'<g class="tl-variant {style}" data-variant="{esc(short)}">')
    for run in joined_runs(points):
        xys = [chart.xy(frame, p) for p in run]
        out.append(f'<polyline class="tl-vline" points="{_points_attr(xys)}"/>')
    for p in points:
        if p is None or p[1] <= 0:
            continue
        d, vaf = p
        x, y = chart.xy(frame, p)
        tip = f"ESR1 {short} {vaf_text(vaf)}%, draw {d.number}, {long_date(d.on)}"
        out.append(
            f'<g class="tl-point" data-number="{esc(d.number)}" '
            f'data-vaf="{esc(vaf_text(vaf))}" transform="translate({num(x)},{num(y)})">'
            f"<title>{esc(tip)}</title>{marker_shape(index)}</g>"
        )
    out.append("</g>")


def _points_attr(xys: list[tuple[float, float]]) -> str:
    return " ".join(f"{num(x)},{num(y)}" for x, y in xys)


def _first_detection_label(
    out: list[str], frame: Frame, chart: VafChart, draws: list[DrawMark]
) -> None:
    """Points at the first detection: the moment the programme exists to catch."""
    detections = first_detections(draws)
    if not detections:
        return
    short, d, vaf = detections[0]
    x, y = chart.xy(frame, (d, vaf))
    text = f"first ESR1: {short} {vaf_text(vaf)}%"
    w = text_w(text, 10.5)
    anchor, tx = ("end", x - 10) if x - 10 - w > frame.axis.left else ("start", x + 10)
    ty = y - 10 if y - 10 > chart.scale.top + 8 else y + 18
    out.append(
        f'<text class="tl-first-label" x="{num(tx)}" y="{num(ty)}" '
        f'text-anchor="{anchor}">{esc(text)}</text>'
    )


def marker_shape(index: int) -> str:
    """The point shape of the variant with this style index; shape tells variants apart
    where colour cannot (print, colour vision)."""
    shape = index % N_VARIANT_STYLES
    if shape == 0:
        return '<circle class="tl-vmark" r="5"/>'
    if shape == 1:
        return '<rect class="tl-vmark" x="-4.5" y="-4.5" width="9" height="9"/>'
    if shape == 2:
        return '<polygon class="tl-vmark" points="0,-6 5.5,4 -5.5,4"/>'
    if shape == 3:
        return '<polygon class="tl-vmark" points="0,-6 6,0 0,6 -6,0"/>'
    if shape == 4:
        return '<polygon class="tl-vmark" points="0,6 5.5,-4 -5.5,-4"/>'
    plus = "-2,-6 2,-6 2,-2 6,-2 6,2 2,2 2,6 -2,6 -2,2 -6,2 -6,-2 -2,-2"
    return f'<polygon class="tl-vmark" points="{plus}"/>'

"""The key to every symbol in use, drawn in the picture so that a print carries it."""

from __future__ import annotations

from chart.picture.data import AssessmentMark, DrawMark, draw_kind, variant_order
from chart.picture.layout import Frame
from chart.picture.svg import esc, num, text_w
from chart.picture.vaf import N_VARIANT_STYLES, marker_shape
from chart.picture.words import DRAW_KINDS

LEGEND_ROW_H = 22


def legend_items(
    draws: list[DrawMark], assessments: list[AssessmentMark]
) -> list[tuple[float, str]]:
    """(width, markup drawn at x=0) of each key item: the variants in style order, the
    draw kinds present, progression if any."""
    items: list[tuple[float, str]] = []
    for index, short in enumerate(variant_order(draws)):
        style = f"tl-var-{index % N_VARIANT_STYLES}"
        text = f"ESR1 {short}"
        items.append(
            (
                34 + text_w(text, 11) + 16,
                f'<g class="tl-variant {style}"><line class="tl-vline" x1="0" x2="28" '
                f'y1="0" y2="0"/><g transform="translate(14,0)">{marker_shape(index)}</g></g>'
                f'<text class="tl-legend-label" x="34" y="4">{esc(text)}</text>',
            )
        )
    present = {draw_kind(d) for d in draws}
    for kind, text in DRAW_KINDS.items():
        if kind not in present:
            continue
        items.append(
            (
                18 + text_w(text, 11) + 16,
                f'<g class="tl-draw tl-draw-{kind}"><circle class="tl-draw-mark" cx="6" '
                f'r="6"/></g><text class="tl-legend-label" x="18" y="4">{text}</text>',
            )
        )
    if any(a.response == "PD" for a in assessments):
        items.append(
            (
                18 + text_w("progression (PD)", 11) + 16,
                '<polygon class="tl-pd-mark" points="0,-6 12,-6 6,5"/>'
                '<text class="tl-legend-label" x="18" y="4">progression (PD)</text>',
            )
        )
    return items


def render_legend(
    out: list[str],
    frame: Frame,
    draws: list[DrawMark],
    assessments: list[AssessmentMark],
    y: float,
) -> float:
    """Writes the key from ``y`` down, wrapping items into rows; returns the y below it."""
    items = legend_items(draws, assessments)
    if not items:
        return y
    x, row = float(frame.axis.left), 0
    out.append(f'<text class="tl-rowlabel" x="8" y="{num(y + 12)}">Key</text>')
    for w, markup in items:
        if x + w > frame.width - 4 and x > frame.axis.left:
            x, row = float(frame.axis.left), row + 1
        ly = y + 8 + row * LEGEND_ROW_H
        out.append(
            f'<g class="tl-legend-item" transform="translate({num(x)},{num(ly)})">{markup}</g>'
        )
        x += w
    return y + (row + 1) * LEGEND_ROW_H + 4

"""Row 1: treatment bars in lanes, each labelled with its line, drugs and end reason.

An ongoing treatment ends in an arrow at today; an ESR1 switch ends in a bold tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from chart.picture.data import TreatmentBar
from chart.picture.layout import GUTTER, Frame
from chart.picture.svg import cls, esc, fit, num, row_label, text_w
from chart.picture.words import end_reason_name, line_name, long_date

LANE_H = 34  # one treatment lane: label line above a bar
BAR_H = 13
LABEL_MIN_W = 300  # a short bar's label may run past its end, up to this width
ARROW_W = 9  # the open end of an ongoing treatment


@dataclass(frozen=True)
class PlacedBar:
    treatment: TreatmentBar
    lane: int
    x0: float  # start of the bar
    x1: float  # end of the bar (today's x while the treatment is ongoing)
    label_x: float
    label: str  # as shown, maybe shortened
    full_label: str
    cut: bool  # the label was shortened: the full one goes in a tooltip


def render_treatments(
    out: list[str], frame: Frame, treatments: list[TreatmentBar], y: float
) -> float:
    """Writes the treatment row from ``y`` down; returns the y below it."""
    if not treatments:
        row_label(out, y + 20, "Treatment")
        out.append(
            f'<text class="tl-note" x="{GUTTER + 6}" y="{num(y + 20)}">'
            "No treatments recorded</text>"
        )
        return y + LANE_H
    bars, n_lanes = place_bars(frame, treatments)
    row_label(out, y + 22, "Treatment")
    for bar in bars:
        out += _bar_markup(bar, y + bar.lane * LANE_H)
    return y + n_lanes * LANE_H


def place_bars(frame: Frame, treatments: list[TreatmentBar]) -> tuple[list[PlacedBar], int]:
    """Each bar's span, label and lane, and the number of lanes. Adjacent bars (a switch
    within a line) may share a lane; labels never overlap."""
    axis = frame.axis
    lane_ends: list[float] = []
    placed = []
    for t in treatments:
        x0 = axis.x(t.start)
        if t.end is None:
            x1 = max(frame.today_x, x0 + 3)
        else:
            x1 = max(axis.x(max(t.end, t.start)), x0 + 3)
        label, full, cut = bar_label(t, max(x1 - x0, LABEL_MIN_W), axis.right - axis.left)
        label_w = text_w(label)
        # Left-aligned on the bar; a bar near the right edge gets its label pulled left.
        lx = max(axis.left, min(x0 + 1, axis.right - label_w))
        left = min(x0, lx)
        right = max(x1 + (ARROW_W if t.end is None else 0), lx + label_w + 10)
        for lane, end in enumerate(lane_ends):
            if end <= left + 0.5:
                lane_ends[lane] = right
                break
        else:
            lane_ends.append(right)
            lane = len(lane_ends) - 1
        placed.append(PlacedBar(t, lane, x0, x1, lx, label, full, cut))
    return placed, len(lane_ends)


def _bar_markup(bar: PlacedBar, top: float) -> list[str]:
    t, x0, x1 = bar.treatment, bar.x0, bar.x1
    bar_y = top + 16
    classes = ["tl-treatment", f"tl-setting-{cls(t.setting)}"]
    if t.is_surveillance:
        classes.append("tl-surveillance")
    if t.end is None:
        classes.append("tl-ongoing")
    if t.end_reason:
        classes.append(f"tl-end-{cls(t.end_reason)}")
    out = [
        f'<g class="{" ".join(classes)}" data-id="{esc(t.id)}">',
        f"<title>{esc(treatment_tooltip(t))}</title>",
        # A 1-unit seam keeps back-to-back bars (a switch on the same day) apart.
        f'<rect class="tl-bar" x="{num(x0 + 0.5)}" y="{num(bar_y)}" '
        f'width="{num(max(x1 - x0 - 1, 2))}" height="{BAR_H}"/>',
    ]
    if t.end is None:
        out.append(
            f'<polygon class="tl-bar tl-arrow" points="{num(x1)},{num(bar_y - 2)} '
            f"{num(x1 + ARROW_W)},{num(bar_y + BAR_H / 2)} {num(x1)},{num(bar_y + BAR_H + 2)}"
            '"/>'
        )
    if t.end_reason == "esr1_switch" and t.end is not None:
        out.append(
            f'<line class="tl-switch-mark" x1="{num(x1)}" x2="{num(x1)}" '
            f'y1="{num(bar_y - 5)}" y2="{num(bar_y + BAR_H + 5)}"/>'
        )
    title = f"<title>{esc(bar.full_label)}</title>" if bar.cut else ""
    out.append(
        f'<text class="tl-bar-label" x="{num(bar.label_x)}" y="{num(top + 12)}">'
        f"{title}{esc(bar.label)}</text>"
    )
    out.append("</g>")
    return out


def bar_label(t: TreatmentBar, want_w: float, plot_w: float) -> tuple[str, str, bool]:
    """The label of a bar shortened to fit (label, full label, was it cut); the line
    number and the end reason are kept whole and the drug names give way first."""
    head = f"{line_name(t)} · "
    tail = " · surveillance" if t.is_surveillance else ""
    if t.end_reason and t.end is not None:
        tail += f" · ended: {end_reason_name(t.end_reason)}"
    full = head + t.label + tail
    max_w = min(want_w, plot_w)
    if text_w(full) <= max_w:
        return full, full, False
    room_for_drugs = max_w - text_w(head + tail)
    if room_for_drugs >= text_w("x" * 8):
        drugs, _ = fit(t.label, room_for_drugs)
        return head + drugs + tail, full, True
    label, _ = fit(full, max_w)
    return label, full, True


def treatment_tooltip(t: TreatmentBar) -> str:
    text = f"{line_name(t)} ({t.setting}): {t.label}, {long_date(t.start)} – "
    text += long_date(t.end) if t.end else "ongoing"
    if t.end_reason and t.end is not None:
        text += f"; ended: {end_reason_name(t.end_reason)}"
    if t.is_surveillance:
        text += "; ctDNA surveillance treatment"
    return text

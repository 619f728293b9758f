"""The date axis under the chart, and the rules that cross every row: month or year
gridlines and today's line."""

from __future__ import annotations

from chart.picture.layout import Frame, ticks
from chart.picture.svg import esc, num, text_w
from chart.picture.words import long_date

AXIS_H = 34


def render_date_axis(out: list[str], frame: Frame, y: float) -> float:
    """Writes the axis line at ``y`` with its ticks and labels; returns the y below it."""
    major, minor = ticks(frame.axis)
    left, right = frame.axis.left, frame.axis.right
    out.append(
        f'<line class="tl-axis" x1="{num(left)}" x2="{num(right)}" y1="{num(y)}" y2="{num(y)}"/>'
    )
    for d in minor:
        x = num(frame.axis.x(d))
        out.append(
            f'<line class="tl-tick-minor" x1="{x}" x2="{x}" y1="{num(y)}" y2="{num(y + 3)}"/>'
        )
    for d, label in major:
        x = frame.axis.x(d)
        out.append(
            f'<line class="tl-tick" x1="{num(x)}" x2="{num(x)}" y1="{num(y)}" y2="{num(y + 5)}"/>'
        )
        if x + text_w(label, 11) / 2 <= frame.width - 2:
            out.append(
                f'<text class="tl-tick-label tl-date-label" x="{num(x)}" y="{num(y + 18)}" '
                f'text-anchor="middle" data-date="{d.isoformat()}">{esc(label)}</text>'
            )
    return y + AXIS_H


def grid(frame: Frame, top: float, bottom: float) -> list[str]:
    """A vertical gridline at each labelled date tick."""
    major, _ = ticks(frame.axis)
    return [
        f'<line class="tl-grid" x1="{num(frame.axis.x(d))}" x2="{num(frame.axis.x(d))}" '
        f'y1="{num(top)}" y2="{num(bottom)}"/>'
        for d, _label in major
    ]


def today_line(frame: Frame, top: float, bottom: float) -> list[str]:
    """Today's line through every row, labelled above the picture and kept inside it."""
    x = frame.today_x
    label = f"Today {long_date(frame.today)}"
    w = text_w(label, 11)
    anchor = "end" if x + w / 2 > frame.width - 4 else "middle"
    tx = x + 4 if anchor == "end" else x
    anchor, tx = ("start", x - 4) if x - w / 2 < 4 else (anchor, tx)
    return [
        f'<line class="tl-today" x1="{num(x)}" x2="{num(x)}" y1="{num(top)}" '
        f'y2="{num(bottom)}" data-date="{frame.today.isoformat()}"/>',
        f'<text class="tl-today-label" x="{num(tx)}" y="{num(top - 4)}" '
        f'text-anchor="{anchor}">{esc(label)}</text>',
    ]

"""Row 3: blood draws as numbered circles, the numbers shared with the draw table below
the picture. The fill tells the result apart (detected, not detected, failed, awaiting,
planned); planned draws say "due" or "overdue", and the next due date is marked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chart.picture.data import DrawMark, draw_kind, vafs
from chart.picture.layout import GUTTER, RIGHT_PAD, Frame, stack
from chart.picture.svg import esc, num, row_label, text_w
from chart.picture.words import DRAW_KINDS, long_date, vaf_text

DRAW_R = 9.5
DRAW_R_SMALL = 7
DRAW_STACK_MAX = 4  # sub-rows before markers shrink
DRAW_LABEL_H = 14  # "due" / "next draw due" text under the markers


@dataclass(frozen=True)
class DrawRow:
    """Where the draw markers go."""

    top: float
    r: float  # marker radius: smaller for a dense series
    marks: list[tuple[DrawMark, float, float]]  # (draw, x, y of the centre)
    markers_bottom: float
    bottom: float  # below the due labels

    @property
    def guides(self) -> list[tuple[float, float]]:
        """(x, bottom of the marker) per draw: where its guide down the VAF chart starts."""
        return [(x, cy + self.r) for _d, x, cy in self.marks]


def place_draws(frame: Frame, draws: list[DrawMark], y: float) -> DrawRow:
    """Markers on sub-rows so none overlap; a dense series (weekly draws over years) gets
    smaller markers before more rows."""
    xs = [frame.axis.x(d.on) for d in draws]
    r = DRAW_R
    rows = stack(xs, 2 * r + 2)
    if max(rows, default=0) + 1 > DRAW_STACK_MAX:
        r = DRAW_R_SMALL
        rows = stack(xs, 2 * r + 2, max_rows=DRAW_STACK_MAX + 2)
    step = 2 * r + 3
    n_rows = max(rows, default=0) + 1
    marks = [(d, x, y + 4 + r + row * step) for d, x, row in zip(draws, xs, rows, strict=True)]
    height = n_rows * step + 4 + DRAW_LABEL_H + 6
    return DrawRow(y, r, marks, y + 4 + n_rows * step, y + height)


def render_draws(out: list[str], frame: Frame, row: DrawRow, next_due: date | None) -> None:
    """Writes the draws row: markers, due labels, the next due date."""
    y, r = row.top, row.r
    row_label(out, y + 4 + r + 4, "ctDNA draws")
    if not row.marks:
        out.append(
            f'<text class="tl-note" x="{GUTTER + 6}" y="{num(y + 4 + r + 4)}">'
            "No draws recorded</text>"
        )
    labelled_next = False
    for d, x, cy in row.marks:
        kind = draw_kind(d)
        out += _marker(d, kind, x, cy, r)
        if kind == "planned":
            is_next = next_due is not None and d.on == next_due and not labelled_next
            labelled_next = labelled_next or is_next
            text = (
                f"next draw due {long_date(d.on)}"
                if is_next
                else ("overdue" if d.on < frame.today else "due")
            )
            out.append(_under_label(frame, x, row.markers_bottom + 10, text, "tl-due-label"))
    if next_due is not None and not labelled_next:
        # The next due date has no planned draw yet: a tick and a label of its own.
        x = frame.axis.x(next_due)
        out.append(
            f'<line class="tl-next-due" x1="{num(x)}" x2="{num(x)}" y1="{num(y)}" '
            f'y2="{num(row.markers_bottom)}"/>'
        )
        text = f"next draw due {long_date(next_due)}"
        out.append(_under_label(frame, x, row.markers_bottom + 10, text, "tl-due-label"))


def _marker(d: DrawMark, kind: str, x: float, cy: float, r: float) -> list[str]:
    size = "tl-num tl-num-small" if r < DRAW_R or d.number >= 100 else "tl-num"
    return [
        f'<g class="tl-draw tl-draw-{kind}" data-number="{esc(d.number)}" '
        f'data-id="{esc(d.id)}" transform="translate({num(x)},{num(cy)})">',
        f"<title>{esc(draw_tooltip(d, kind))}</title>",
        f'<circle class="tl-draw-mark" r="{num(r)}"/>',
        f'<text class="{size}" x="0" y="0" text-anchor="middle" '
        f'dominant-baseline="central">{esc(d.number)}</text>',
        "</g>",
    ]


def _under_label(frame: Frame, x: float, y: float, text: str, cls: str) -> str:
    """A small centred label kept inside the plot area."""
    half = text_w(text, 10.5) / 2
    if x + half > frame.axis.right + RIGHT_PAD - 4:
        anchor, x = "end", frame.width - 4
    elif x - half < frame.axis.left:
        anchor, x = "start", frame.axis.left
    else:
        anchor = "middle"
    return (
        f'<text class="{cls}" x="{num(x)}" y="{num(y)}" text-anchor="{anchor}">{esc(text)}</text>'
    )


def draw_tooltip(d: DrawMark, kind: str) -> str:
    when = long_date(d.on)
    if kind == "planned":
        return f"Draw {d.number}: planned, due {when}"
    text = f"Draw {d.number}: collected {when}, {DRAW_KINDS[kind]}"
    found = vafs(d)
    if found:
        text += ": " + ", ".join(f"{s} {vaf_text(v)}%" for s, v in found.items())
    return text

"""The picture as a whole: the sections stacked top to bottom on one date axis, the
rules that cross them, all wrapped in one ``<svg>`` element."""

from __future__ import annotations

from datetime import date

from chart.picture.axis import grid, render_date_axis, today_line
from chart.picture.data import TimelineData
from chart.picture.draws import place_draws, render_draws
from chart.picture.layout import TOP, frame_for
from chart.picture.legend import render_legend
from chart.picture.scans import pd_rules, render_scans
from chart.picture.svg import cls, esc, open_svg
from chart.picture.treatments import render_treatments
from chart.picture.vaf import render_vaf_chart
from chart.picture.words import describe, long_date

MIN_WIDTH = 480


def render(data: TimelineData, *, width: int, id_prefix: str) -> str:
    """The complete ``<svg>`` element; see ``patients.timeline_picture``."""
    width = max(int(width), MIN_WIDTH)
    prefix = cls(id_prefix)
    treatments = sorted(data.treatments, key=lambda t: (t.start, t.end or date.max, t.id))
    assessments = sorted(data.assessments, key=lambda a: (a.on, a.id))
    # Cancelled draws never happened; draws without a date cannot be placed.
    draws = sorted(
        (d for d in data.draws if d.status != "cancelled" and d.on is not None),
        key=lambda d: (d.on, d.number),
    )
    desc = describe(data, treatments, assessments, draws)
    if not (treatments or assessments or draws):
        return _render_empty(data, width, prefix, desc)

    dates = [t.start for t in treatments] + [t.end for t in treatments if t.end]
    dates += [a.on for a in assessments] + [d.on for d in draws]
    if data.next_due:
        dates.append(data.next_due)
    frame = frame_for(dates, today=data.today, width=width)

    body: list[str] = []
    lanes_top = TOP
    y = render_treatments(body, frame, treatments, lanes_top)
    y = render_scans(body, frame, assessments, y)
    draw_row = place_draws(frame, draws, y)
    render_draws(body, frame, draw_row, data.next_due)
    plot_bottom = render_vaf_chart(body, frame, draws, draw_row.guides, draw_row.bottom + 10)
    y = render_date_axis(body, frame, plot_bottom)
    y = render_legend(body, frame, draws, assessments, y + 6)
    height = y + 8

    out = open_svg(width, height, prefix, data.title, desc)
    # Rules that span the picture go under the marks they cross.
    out += grid(frame, lanes_top - 6, plot_bottom)
    out += pd_rules(frame, assessments, lanes_top - 6, plot_bottom)
    out += today_line(frame, lanes_top - 8, plot_bottom)
    out += body
    out.append("</svg>")
    return "\n".join(out)


def _render_empty(data: TimelineData, width: int, prefix: str, desc: str) -> str:
    height = 96 if data.next_due is None else 116
    out = open_svg(width, height, prefix, data.title, desc)
    out.append(
        f'<text class="tl-empty" x="{width / 2:.0f}" y="52" text-anchor="middle">'
        "No treatments or draws recorded yet</text>"
    )
    if data.next_due is not None:
        out.append(
            f'<text class="tl-empty-sub" x="{width / 2:.0f}" y="80" text-anchor="middle">'
            f"Next draw due {esc(long_date(data.next_due))}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)

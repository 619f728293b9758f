"""The page's charts as SVG markup, drawn here from the figures (no charting script).

Each chart is an `<svg role="img">` named by its `<title>` (aria-labelledby) and described
by a `<desc>` (aria-describedby) that says every value in words, so a screen reader hears
what the picture shows. No
inline styles and no scripts (the Content-Security-Policy forbids both): the look comes
from classes styled in static/css/programme.css.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import date

from programme.selectors import MIN_CASES

WIDTH = 640
HEIGHT = 270
# Plot margins: the title above, the months and the legend below.
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 34, 62


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # class suffix: pm-bar-<css>, pm-key-<css>
    values: list[float | None]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    out = f"{value:.1f}"
    return out[:-2] if out.endswith(".0") else out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no figure"
    shown = f"{value:.1f}".removesuffix(".0")
    return f"{shown}%" if unit == "%" else f"{shown} {unit}"


def month_name(first: date) -> str:
    return f"{first:%B %Y}"


def _axis_top(values: list[float], *, floor: float, whole: bool = False) -> float:
    """A round top for the y axis, at least `floor`: four grid steps of 1, 2, 2.5 or 5 times
    a power of ten (whole numbers only for counts)."""
    raw = max([floor, *values]) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        size = step * magnitude
        if whole and size != int(size):
            continue
        if size >= raw:
            return 4 * size
    return 40 * magnitude


def _open(chart_id: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pm-chart" id="{chart_id}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc">',
        f'<title id="{chart_id}-title">{_esc(title)}</title>',
        f'<desc id="{chart_id}-desc">{_esc(desc)}</desc>',
    ]


def bar_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    months: list[date],
    series: list[Series],
    unit: str,
    y_max: float | None = None,
    stacked: bool = False,
    withheld: bool = True,
) -> str:
    """Bars per month: side by side, or stacked. A month without a figure (too few cases)
    gets a hollow mark on the baseline instead of a bar; `withheld` False (counts, always
    shown) leaves that mark out of the legend."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    if y_max is None:
        if stacked:
            columns = zip(*(s.values for s in series), strict=True)
            totals = [sum(v or 0 for v in column) for column in columns]
        else:
            totals = [v for s in series for v in s.values if v is not None]
        counts = unit == "detections"
        y_max = _axis_top(totals, floor=4 if counts else 10, whole=counts)

    def y(value: float) -> float:
        return base - plot_h * min(value, y_max) / y_max

    out = _open(chart_id, title, desc)
    # The title drawn too: inside role="img" it is seen, not read twice.
    out.append(f'<text class="pm-title" x="{LEFT}" y="18">{_esc(title)}</text>')
    for i in range(5):
        tick = y_max * i / 4
        out.append(
            f'<line class="pm-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{_num(y(tick))}" y2="{_num(y(tick))}"/>'
        )
        label = f"{_num(tick)}%" if unit == "%" else _num(tick)
        out.append(
            f'<text class="pm-tick" x="{LEFT - 6}" y="{_num(y(tick) + 4)}" '
            f'text-anchor="end">{_esc(label)}</text>'
        )

    count = max(len(months), 1)
    band = plot_w / count
    label_every = math.ceil(count / 12)
    lanes = 1 if stacked else len(series)
    bar_w = band * 0.72 / lanes
    for index, first in enumerate(months):
        x0 = LEFT + band * index + band * 0.14
        stack_top = base
        for lane, s in enumerate(series):
            value = s.values[index]
            x = x0 if stacked else x0 + bar_w * lane
            if value is None:
                out.append(
                    f'<rect class="pm-nodata" x="{_num(x + 1)}" y="{_num(base - 3)}" '
                    f'width="{_num(max(bar_w - 2, 1))}" height="3"/>'
                )
                continue
            height = base - y(value)
            top = (stack_top if stacked else base) - height
            out.append(
                f'<rect class="pm-bar pm-bar-{s.css}" x="{_num(x)}" y="{_num(top)}" '
                f'width="{_num(bar_w)}" height="{_num(height)}"/>'
            )
            stack_top = top
        if index % label_every == 0:
            cx = LEFT + band * (index + 0.5)
            out.append(
                f'<text class="pm-month" x="{_num(cx)}" y="{base + 15}" '
                f'text-anchor="middle">{_esc(f"{first:%b}")}</text>'
            )
            if index == 0 or first.month == 1 or label_every > 1:
                out.append(
                    f'<text class="pm-year" x="{_num(cx)}" y="{base + 28}" '
                    f'text-anchor="middle">{first.year}</text>'
                )
    out.append(f'<line class="pm-axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>')
    out += _legend(series, base + 48, withheld=withheld)
    out.append("</svg>")
    return "\n".join(out)


def _legend(series: list[Series], y: float, *, withheld: bool) -> list[str]:
    out, x = [], LEFT
    for s in series:
        out.append(
            f'<rect class="pm-key pm-bar-{s.css}" x="{_num(x)}" y="{_num(y - 10)}" '
            'width="12" height="12"/>'
        )
        out.append(
            f'<text class="pm-legend" x="{_num(x + 17)}" y="{_num(y)}">{_esc(s.name)}</text>'
        )
        x += 17 + len(s.name) * 7 + 18
    if not withheld:
        return out
    out.append(f'<rect class="pm-nodata" x="{_num(x)}" y="{_num(y - 4)}" width="12" height="3"/>')
    out.append(
        f'<text class="pm-legend" x="{_num(x + 17)}" y="{_num(y)}">'
        f"fewer than {MIN_CASES} cases</text>"
    )
    return out


# --- The page's charts ---------------------------------------------------------------------


def _months(by_month: list[dict]) -> list[date]:
    return [date.fromisoformat(f"{row['month']}-01") for row in by_month]


def on_time_chart(by_month: list[dict]) -> str:
    parts = []
    for row, first in zip(by_month, _months(by_month), strict=True):
        n = row["draws_on_time_pct_n"]
        if row["draws_on_time_pct"] is None:
            parts.append(f"{month_name(first)}: {n} draws with a known outcome, too few")
        else:
            parts.append(
                f"{month_name(first)}: {_fmt(row['draws_on_time_pct'], '%')} of {n} on time"
            )
    return bar_chart(
        chart_id="chart-on-time",
        title="Draws collected on time (within 14 days of the due date), by month",
        desc="; ".join(parts) + ".",
        months=_months(by_month),
        series=[Series("On time", "ontime", [r["draws_on_time_pct"] for r in by_month])],
        unit="%",
        y_max=100,
    )


def turnaround_chart(by_month: list[dict]) -> str:
    parts = []
    for row, first in zip(by_month, _months(by_month), strict=True):
        n = row["turnaround_days_median_n"]
        if row["turnaround_days_median"] is None:
            parts.append(f"{month_name(first)}: {n} results, too few")
        else:
            parts.append(
                f"{month_name(first)}: median {_fmt(row['turnaround_days_median'], 'days')}, "
                f"90th percentile {_fmt(row['turnaround_days_p90'], 'days')} ({n} results)"
            )
    return bar_chart(
        chart_id="chart-turnaround",
        title="Days from collection to report, median and 90th percentile, by month",
        desc="; ".join(parts) + ".",
        months=_months(by_month),
        series=[
            Series("Median", "median", [r["turnaround_days_median"] for r in by_month]),
            Series("90th percentile", "p90", [r["turnaround_days_p90"] for r in by_month]),
        ],
        unit="days",
    )


def detections_chart(by_month: list[dict]) -> str:
    parts = []
    for row, first in zip(by_month, _months(by_month), strict=True):
        before = row["detected_before_progression"]
        at = row["esr1_detected"] - before
        parts.append(f"{month_name(first)}: {before} before progression, {at} at progression")
    return bar_chart(
        chart_id="chart-detections",
        title="ESR1 detections before and at documented progression, by month",
        desc="; ".join(parts) + ".",
        months=_months(by_month),
        series=[
            Series(
                "Before progression", "before", [r["detected_before_progression"] for r in by_month]
            ),
            Series(
                "At progression",
                "at",
                [r["esr1_detected"] - r["detected_before_progression"] for r in by_month],
            ),
        ],
        unit="detections",
        stacked=True,
        withheld=False,
    )


FUNNEL_LABELS = {
    "monitored": "Monitored",
    "tested": "Tested",
    "esr1_detected": "ESR1 detected",
    "switched": "Switched",
}


def funnel_chart(funnel: dict) -> str:
    """Horizontal bars, one per stage, as long as its share of the monitored patients."""
    stages = list(FUNNEL_LABELS)
    desc = "; ".join(f"{FUNNEL_LABELS[s]}: {funnel[s]} patients" for s in stages) + "."
    height = 34 * len(stages) + 16
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pm-chart pm-funnel" id="chart-funnel" '
        f'role="img" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" '
        'aria-labelledby="chart-funnel-title" aria-describedby="chart-funnel-desc">',
        '<title id="chart-funnel-title">Patients from monitoring to a switch</title>',
        f'<desc id="chart-funnel-desc">{_esc(desc)}</desc>',
    ]
    left, span = 130, WIDTH - 130 - 70
    top = max(funnel["monitored"], 1)
    for index, stage in enumerate(stages):
        y = 10 + index * 34
        width = span * funnel[stage] / top
        out.append(
            f'<text class="pm-stage" x="{left - 8}" y="{y + 17}" text-anchor="end">'
            f"{_esc(FUNNEL_LABELS[stage])}</text>"
        )
        out.append(
            f'<rect class="pm-bar pm-bar-{_esc(stage.replace("_", "-"))}" x="{left}" y="{y}" '
            f'width="{_num(max(width, 1))}" height="24"/>'
        )
        out.append(
            f'<text class="pm-value" x="{_num(left + max(width, 1) + 6)}" y="{y + 17}">'
            f"{funnel[stage]}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)

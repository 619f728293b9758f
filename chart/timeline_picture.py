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
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

# --------------------------------------------------------------------------------------
# Input data


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
    vaf_percent: float


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


# --------------------------------------------------------------------------------------
# Layout constants (SVG user units; the viewBox scales them to the container)

GUTTER = 112  # left column for row names and VAF tick labels
RIGHT_PAD = 24
TOP = 24  # room for the "Today" label above everything
PAD_DAYS = 30  # date padding either side of the events

LANE_H = 34  # one treatment lane: label line above a bar
BAR_H = 13
LABEL_MIN_W = 300  # a short bar's label may run past its end, up to this width
ARROW_W = 9  # the open end of an ongoing treatment

SCAN_ROW_H = 34
SCAN_STACK = 16  # vertical step when scans on nearby dates collide

DRAW_R = 9.5
DRAW_R_SMALL = 7
DRAW_STACK_MAX = 4  # sub-rows before markers shrink
DRAW_LABEL_H = 14  # "due" / "next draw due" text under the markers

VAF_H = 150  # log-scale area
VAF_GAP = 18  # axis break between the log area and the "not detected" row
BASE_ROW_H = 22

AXIS_H = 34
LEGEND_ROW_H = 22

FONT = 12  # base font size; must match timeline.css
CHAR_W = 0.6  # average glyph advance per font-size unit, for label truncation

VAF_FLOOR = 0.05  # values below are clamped here, still clearly above "not detected"
VAF_FLOOR_LOW = 0.01  # used instead when a result reports below VAF_FLOOR
N_VARIANT_STYLES = 6  # tl-var-0..5 in timeline.css: colour + dash + marker shape

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
END_REASONS = {
    "progression": "progression",
    "esr1_switch": "ESR1 switch",
    "toxicity": "toxicity",
    "completed": "completed",
    "patient_choice": "patient choice",
    "death": "death",
    "other": "other reason",
}
MODALITIES = {
    "ct": "CT",
    "pet_ct": "PET-CT",
    "bone_scan": "Bone scan",
    "mri": "MRI",
    "other": "Imaging",
}
RESPONSES = {
    "CR": "complete response",
    "PR": "partial response",
    "SD": "stable disease",
    "PD": "progressive disease",
    "NE": "not evaluable",
}
DRAW_KINDS = {
    # kind: (legend text, class suffix)
    "detected": "ESR1 detected",
    "not-detected": "ESR1 not detected",
    "failed": "result failed",
    "pending": "awaiting result",
    "planned": "planned",
}


# --------------------------------------------------------------------------------------
# Small helpers

# Characters XML 1.0 cannot carry at all; a label pasted from another system may hold them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CLASS_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def _esc(text: object) -> str:
    """Escape for both text and attribute values (quotes included)."""
    return html.escape(_XML_INVALID.sub("", str(text)), quote=True)


def _cls(text: str) -> str:
    """A value safe to splice into a class name."""
    return _CLASS_UNSAFE.sub("-", str(text).lower()).strip("-") or "unknown"


def _n(value: float) -> str:
    """Coordinates with one decimal: precise enough, and keeps the markup small."""
    out = f"{value:.1f}"
    return out[:-2] if out.endswith(".0") else out


def _text_w(text: str, size: float = FONT) -> float:
    return len(text) * size * CHAR_W


def _fit(text: str, max_w: float, size: float = FONT) -> tuple[str, bool]:
    """Shorten ``text`` with an ellipsis to about ``max_w``; says whether it was cut."""
    if _text_w(text, size) <= max_w:
        return text, False
    keep = int(max_w / (size * CHAR_W)) - 1
    if keep < 1:
        return "", True
    return text[:keep].rstrip() + "…", True


def _long_date(d: date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _vaf(value: float) -> str:
    """0.4 -> "0.4", 0.35 -> "0.35", 12.34 -> "12.3": two significant figures below 1%."""
    return f"{value:.2g}" if value < 1 else f"{min(value, 100.0):.3g}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _draw_kind(draw: DrawMark) -> str:
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


def _vafs(draw: DrawMark) -> dict[str, float]:
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


@dataclass(frozen=True)
class _Axis:
    """Date -> x on the shared axis."""

    start: date
    end: date
    left: float
    right: float

    def x(self, d: date) -> float:
        span = max((self.end - self.start).days, 1)
        return self.left + (d - self.start).days / span * (self.right - self.left)


@dataclass(frozen=True)
class _LogScale:
    """VAF % -> y on the log area; the "not detected" row lies below ``bottom``."""

    floor: float
    ceiling: float
    top: float
    bottom: float

    def y(self, vaf: float) -> float:
        lo, hi = math.log10(self.floor), math.log10(self.ceiling)
        v = math.log10(min(max(vaf, self.floor), self.ceiling))
        return self.bottom - (v - lo) / (hi - lo) * (self.bottom - self.top)


def _stack(xs: list[float], spacing: float, max_rows: int | None = None) -> list[int]:
    """Greedy sub-row per mark (xs in ascending order) so that no two marks closer than
    ``spacing`` share a row; past ``max_rows`` the last row takes the overlap."""
    rows_end: list[float] = []
    out = []
    for x in xs:
        for i, end in enumerate(rows_end):
            if x - end >= spacing:
                rows_end[i] = x
                out.append(i)
                break
        else:
            if max_rows is not None and len(rows_end) >= max_rows:
                rows_end[-1] = x
                out.append(len(rows_end) - 1)
            else:
                rows_end.append(x)
                out.append(len(rows_end) - 1)
    return out


# --------------------------------------------------------------------------------------
# Entry point


def render_timeline_svg(data: TimelineData, *, width: int = 960, id_prefix: str = "tl") -> str:
    """The timeline as a complete ``<svg>`` element (see the module docstring).

    ``id_prefix`` keeps the ids of ``<title>``/``<desc>`` unique when a page shows more
    than one picture."""
    width = max(int(width), 480)
    prefix = _cls(id_prefix)
    treatments = sorted(data.treatments, key=lambda t: (t.start, t.end or date.max, t.id))
    assessments = sorted(data.assessments, key=lambda a: (a.on, a.id))
    # Cancelled draws never happened; draws without a date cannot be placed.
    draws = sorted(
        (d for d in data.draws if d.status != "cancelled" and d.on is not None),
        key=lambda d: (d.on, d.number),
    )
    desc = _describe(data, treatments, assessments, draws)
    if not (treatments or assessments or draws):
        return _render_empty(data, width, prefix, desc)
    return _Picture(data, treatments, assessments, draws, width, prefix, desc).render()


def _open_svg(width: int, height: float, prefix: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="tl-svg" role="img" '
        f'viewBox="0 0 {width} {_n(height)}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{prefix}-title {prefix}-desc">',
        f'<title id="{prefix}-title">{_esc(title)}</title>',
        f'<desc id="{prefix}-desc">{_esc(desc)}</desc>',
        f'<rect class="tl-frame" x="0" y="0" width="{width}" height="{_n(height)}"/>',
    ]


def _render_empty(data: TimelineData, width: int, prefix: str, desc: str) -> str:
    height = 96 if data.next_due is None else 116
    out = _open_svg(width, height, prefix, data.title, desc)
    out.append(
        f'<text class="tl-empty" x="{width / 2:.0f}" y="52" text-anchor="middle">'
        "No treatments or draws recorded yet</text>"
    )
    if data.next_due is not None:
        out.append(
            f'<text class="tl-empty-sub" x="{width / 2:.0f}" y="80" text-anchor="middle">'
            f"Next draw due {_esc(_long_date(data.next_due))}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


# --------------------------------------------------------------------------------------
# The words: <desc> is what a screen reader announces, so it carries the clinical story.


def _first_detections(draws: list[DrawMark]) -> list[tuple[str, DrawMark, float]]:
    seen: dict[str, tuple[str, DrawMark, float]] = {}
    for d in draws:
        if _draw_kind(d) != "detected":
            continue
        for short, vaf in _vafs(d).items():
            seen.setdefault(short, (short, d, vaf))
    return list(seen.values())


def _describe(
    data: TimelineData,
    treatments: list[TreatmentBar],
    assessments: list[AssessmentMark],
    draws: list[DrawMark],
) -> str:
    if not (treatments or assessments or draws):
        text = "No treatments or draws recorded yet."
        if data.next_due:
            text += f" Next draw due {data.next_due.isoformat()}."
        return text

    kinds = [_draw_kind(d) for d in draws]
    counts = [
        (kinds.count("detected") + kinds.count("not-detected"), "with a result"),
        (kinds.count("failed"), "failed"),
        (kinds.count("pending"), "awaiting result"),
        (kinds.count("planned"), "planned"),
    ]
    breakdown = ", ".join(f"{n} {what}" for n, what in counts if n)
    first = _plural(len(treatments), "treatment")
    first += f", {_plural(len(draws), 'draw')}" + (f" ({breakdown})" if breakdown else "")
    first += f", {_plural(len(assessments), 'scan')}"
    sentences = [first]

    current = [
        t for t in treatments if t.start <= data.today and (t.end is None or t.end > data.today)
    ]
    for t in current:
        kind = " (ctDNA surveillance)" if t.is_surveillance else ""
        sentences.append(
            f"Current treatment: {t.label}, {_line_name(t).lower()}{kind}, "
            f"since {t.start.isoformat()}"
        )
    for t in treatments:
        if t.end_reason == "esr1_switch" and t.end is not None:
            sentences.append(f"{t.label} ended by an ESR1 switch on {t.end.isoformat()}")

    detections = _first_detections(draws)
    if detections:
        sentences.extend(
            f"ESR1 {short} first detected {d.on.isoformat()} at {_vaf(vaf)}% (draw {d.number})"
            for short, d, vaf in detections
        )
        latest = [d for d in draws if _draw_kind(d) in ("detected", "not-detected")][-1]
        if latest.on > detections[0][1].on:
            found = _vafs(latest)
            status = (
                ", ".join(f"{s} {_vaf(v)}%" for s, v in found.items())
                if found
                else "ESR1 not detected"
            )
            sentences.append(f"Latest result {latest.on.isoformat()}: {status}")
    elif "not-detected" in kinds:
        sentences.append(f"ESR1 not detected in {_plural(kinds.count('not-detected'), 'result')}")
    else:
        sentences.append("No ctDNA results yet")

    progression = [a.on.isoformat() for a in assessments if a.response == "PD"]
    if progression:
        sentences.append("Radiographic progression (PD) on " + ", ".join(progression))
    if data.next_due:
        sentences.append(f"Next draw due {data.next_due.isoformat()}")
    return ". ".join(sentences) + "."


def _line_name(t: TreatmentBar) -> str:
    return "Adjuvant" if t.setting == "adjuvant" else f"Line {t.line_number}"


# --------------------------------------------------------------------------------------
# The picture


class _Picture:
    def __init__(self, data, treatments, assessments, draws, width, prefix, desc):
        self.data = data
        self.treatments: list[TreatmentBar] = treatments
        self.assessments: list[AssessmentMark] = assessments
        self.draws: list[DrawMark] = draws
        self.width = width
        self.prefix = prefix
        self.desc = desc
        self.axis = self._date_axis()
        self.today_x = self.axis.x(data.today)
        # Filled while drawing the rows, read by the rows below them.
        self.guides: list[tuple[float, float]] = []  # (x, bottom of marker) per draw
        self.variant_order: list[str] = []  # variants by first detection: style index

    # ---- geometry ------------------------------------------------------------------

    def _date_axis(self) -> _Axis:
        d = self.data
        dates = [d.today]
        dates += [t.start for t in self.treatments] + [t.end for t in self.treatments if t.end]
        dates += [a.on for a in self.assessments] + [x.on for x in self.draws]
        if d.next_due:
            dates.append(d.next_due)
        start = min(dates) - timedelta(days=PAD_DAYS)
        end = max(dates) + timedelta(days=PAD_DAYS)
        return _Axis(start, end, GUTTER, self.width - RIGHT_PAD)

    def render(self) -> str:
        body: list[str] = []
        y = TOP
        lanes_top = y
        y = self._treatments(body, y)
        y = self._scans(body, y)
        y = self._draws(body, y)
        vaf_top = y + 10
        y = self._vaf_chart(body, vaf_top)
        plot_bottom = y
        y = self._date_ticks(body, plot_bottom)
        y = self._legend(body, y + 6)
        height = y + 8

        out = _open_svg(self.width, height, self.prefix, self.data.title, self.desc)
        # Rules that span the picture go under the marks they cross.
        out += self._grid(lanes_top - 6, plot_bottom)
        out += self._pd_rules(lanes_top - 6, plot_bottom)
        out += self._today(lanes_top - 8, plot_bottom)
        out += body
        out.append("</svg>")
        return "\n".join(out)

    def _row_label(self, out: list[str], y: float, text: str, sub: str = "") -> None:
        out.append(f'<text class="tl-rowlabel" x="8" y="{_n(y)}">{_esc(text)}</text>')
        if sub:
            out.append(f'<text class="tl-rowsub" x="8" y="{_n(y + 13)}">{_esc(sub)}</text>')

    # ---- 1. treatment lanes --------------------------------------------------------

    def _treatments(self, out: list[str], y: float) -> float:
        if not self.treatments:
            self._row_label(out, y + 20, "Treatment")
            out.append(
                f'<text class="tl-note" x="{GUTTER + 6}" y="{_n(y + 20)}">'
                "No treatments recorded</text>"
            )
            return y + LANE_H
        plot_right = self.axis.right
        lane_ends: list[float] = []
        placed = []
        for t in self.treatments:
            x0 = self.axis.x(t.start)
            if t.end is None:
                x1 = max(self.today_x, x0 + 3)
            else:
                x1 = max(self.axis.x(max(t.end, t.start)), x0 + 3)
            label, full, cut = self._bar_label(t, max(x1 - x0, LABEL_MIN_W))
            label_w = _text_w(label)
            # Left-aligned on the bar; a bar near the right edge gets its label pulled left.
            lx = max(self.axis.left, min(x0 + 1, plot_right - label_w))
            left = min(x0, lx)
            right = max(x1 + (ARROW_W if t.end is None else 0), lx + label_w + 10)
            # Adjacent bars (a switch within a line) may share a lane; labels never overlap.
            for lane, end in enumerate(lane_ends):
                if end <= left + 0.5:
                    lane_ends[lane] = right
                    break
            else:
                lane_ends.append(right)
                lane = len(lane_ends) - 1
            placed.append((t, lane, x0, x1, lx, label, full, cut))

        self._row_label(out, y + 22, "Treatment")
        for t, lane, x0, x1, lx, label, full, cut in placed:
            top = y + lane * LANE_H
            bar_y = top + 16
            classes = ["tl-treatment", f"tl-setting-{_cls(t.setting)}"]
            if t.is_surveillance:
                classes.append("tl-surveillance")
            if t.end is None:
                classes.append("tl-ongoing")
            if t.end_reason:
                classes.append(f"tl-end-{_cls(t.end_reason)}")
            out.append(f'<g class="{" ".join(classes)}" data-id="{_esc(t.id)}">')
            out.append(f"<title>{_esc(self._treatment_tooltip(t))}</title>")
            # A 1-unit seam keeps back-to-back bars (a switch on the same day) apart.
            out.append(
                f'<rect class="tl-bar" x="{_n(x0 + 0.5)}" y="{_n(bar_y)}" '
                f'width="{_n(max(x1 - x0 - 1, 2))}" height="{BAR_H}"/>'
            )
            if t.end is None:
                out.append(
                    f'<polygon class="tl-bar tl-arrow" points="{_n(x1)},{_n(bar_y - 2)} '
                    f"{_n(x1 + ARROW_W)},{_n(bar_y + BAR_H / 2)} {_n(x1)},{_n(bar_y + BAR_H + 2)}"
                    '"/>'
                )
            if t.end_reason == "esr1_switch" and t.end is not None:
                out.append(
                    f'<line class="tl-switch-mark" x1="{_n(x1)}" x2="{_n(x1)}" '
                    f'y1="{_n(bar_y - 5)}" y2="{_n(bar_y + BAR_H + 5)}"/>'
                )
            title = f"<title>{_esc(full)}</title>" if cut else ""
            out.append(
                f'<text class="tl-bar-label" x="{_n(lx)}" y="{_n(top + 12)}">'
                f"{title}{_esc(label)}</text>"
            )
            out.append("</g>")
        return y + len(lane_ends) * LANE_H

    def _bar_label(self, t: TreatmentBar, want_w: float) -> tuple[str, str, bool]:
        """The label of a bar, shortened to fit; the line number and the end reason are
        kept whole and the drug names give way first."""
        head = f"{_line_name(t)} · "
        tail = " · surveillance" if t.is_surveillance else ""
        if t.end_reason and t.end is not None:
            reason = END_REASONS.get(t.end_reason, t.end_reason.replace("_", " "))
            tail += f" · ended: {reason}"
        full = head + t.label + tail
        max_w = min(want_w, self.axis.right - self.axis.left)
        if _text_w(full) <= max_w:
            return full, full, False
        room_for_drugs = max_w - _text_w(head + tail)
        if room_for_drugs >= _text_w("x" * 8):
            drugs, _ = _fit(t.label, room_for_drugs)
            return head + drugs + tail, full, True
        label, _ = _fit(full, max_w)
        return label, full, True

    def _treatment_tooltip(self, t: TreatmentBar) -> str:
        text = f"{_line_name(t)} ({t.setting}): {t.label}, {_long_date(t.start)} – "
        text += _long_date(t.end) if t.end else "ongoing"
        if t.end_reason and t.end is not None:
            text += f"; ended: {END_REASONS.get(t.end_reason, t.end_reason.replace('_', ' '))}"
        if t.is_surveillance:
            text += "; ctDNA surveillance treatment"
        return text

    # ---- 2a. scans -----------------------------------------------------------------

    def _scans(self, out: list[str], y: float) -> float:
        xs = [self.axis.x(a.on) for a in self.assessments]
        rows = _stack(xs, 20)
        n_rows = max(rows, default=0) + 1
        height = SCAN_ROW_H + (n_rows - 1) * SCAN_STACK
        self._row_label(out, y + 15, "Scans")
        if not self.assessments:
            out.append(
                f'<text class="tl-note" x="{GUTTER + 6}" y="{_n(y + 15)}">No scans recorded</text>'
            )
        for a, x, row in zip(self.assessments, xs, rows, strict=True):
            cy = y + 10 + row * SCAN_STACK
            modality = MODALITIES.get(a.modality, a.modality or "Imaging")
            response = RESPONSES.get(a.response, a.response)
            tip = f"{modality} {_long_date(a.on)}: {a.response} ({response})"
            pd = a.response == "PD"
            cls = f"tl-assess tl-resp-{_cls(a.response)}" + (" tl-pd" if pd else "")
            out.append(
                f'<g class="{cls}" data-id="{_esc(a.id)}" transform="translate({_n(x)},{_n(cy)})">'
            )
            out.append(f"<title>{_esc(tip)}</title>")
            if pd:
                # Progression is the event the whole programme races against: big, dark,
                # a downward triangle (a distinct shape in print) with its name on it.
                out.append('<polygon class="tl-pd-mark" points="-8,-7 8,-7 0,7"/>')
                out.append('<text class="tl-pd-label" x="11" y="5">PD</text>')
            else:
                out.append('<polygon class="tl-assess-mark" points="0,-5 5,0 0,5 -5,0"/>')
                out.append(
                    f'<text class="tl-assess-label" x="0" y="16" text-anchor="middle">'
                    f"{_esc(a.response)}</text>"
                )
            out.append("</g>")
        return y + height

    def _pd_rules(self, top: float, bottom: float) -> list[str]:
        out = []
        for a in self.assessments:
            if a.response == "PD":
                x = _n(self.axis.x(a.on))
                out.append(
                    f'<line class="tl-pd-rule" x1="{x}" x2="{x}" y1="{_n(top)}" y2="{_n(bottom)}"/>'
                )
        return out

    # ---- 2b. draws -----------------------------------------------------------------

    def _draws(self, out: list[str], y: float) -> float:
        xs = [self.axis.x(d.on) for d in self.draws]
        r = DRAW_R
        rows = _stack(xs, 2 * r + 2)
        if max(rows, default=0) + 1 > DRAW_STACK_MAX:
            # Dense series (weekly draws over years): smaller markers before more rows.
            r = DRAW_R_SMALL
            rows = _stack(xs, 2 * r + 2, max_rows=DRAW_STACK_MAX + 2)
        step = 2 * r + 3
        n_rows = max(rows, default=0) + 1
        markers_bottom = y + 4 + n_rows * step
        height = n_rows * step + 4 + DRAW_LABEL_H + 6
        self._row_label(out, y + 4 + r + 4, "ctDNA draws")
        if not self.draws:
            out.append(
                f'<text class="tl-note" x="{GUTTER + 6}" y="{_n(y + 4 + r + 4)}">'
                "No draws recorded</text>"
            )

        next_due = self.data.next_due
        labelled_next = False
        # Guides run from each marker down through the VAF chart; drawn with the chart.
        for d, x, row in zip(self.draws, xs, rows, strict=True):
            cy = y + 4 + r + row * step
            kind = _draw_kind(d)
            self.guides.append((x, cy + r))
            out.append(
                f'<g class="tl-draw tl-draw-{kind}" data-number="{_esc(d.number)}" '
                f'data-id="{_esc(d.id)}" transform="translate({_n(x)},{_n(cy)})">'
            )
            out.append(f"<title>{_esc(self._draw_tooltip(d, kind))}</title>")
            out.append(f'<circle class="tl-draw-mark" r="{_n(r)}"/>')
            size = "tl-num tl-num-small" if r < DRAW_R or d.number >= 100 else "tl-num"
            out.append(
                f'<text class="{size}" x="0" y="0" text-anchor="middle" '
                f'dominant-baseline="central">{_esc(d.number)}</text>'
            )
            out.append("</g>")
            if kind == "planned":
                is_next = next_due is not None and d.on == next_due and not labelled_next
                labelled_next = labelled_next or is_next
                text = (
                    f"next draw due {_long_date(d.on)}"
                    if is_next
                    else ("overdue" if d.on < self.data.today else "due")
                )
                out.append(self._under_label(x, markers_bottom + 10, text, "tl-due-label"))
        if next_due is not None and not labelled_next:
            x = self.axis.x(next_due)
            out.append(
                f'<line class="tl-next-due" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y)}" '
                f'y2="{_n(markers_bottom)}"/>'
            )
            out.append(
                self._under_label(
                    x, markers_bottom + 10, f"next draw due {_long_date(next_due)}", "tl-due-label"
                )
            )
        return y + height

    def _under_label(self, x: float, y: float, text: str, cls: str) -> str:
        """A small centred label kept inside the plot area."""
        half = _text_w(text, 10.5) / 2
        if x + half > self.axis.right + RIGHT_PAD - 4:
            anchor, x = "end", self.width - 4
        elif x - half < self.axis.left:
            anchor, x = "start", self.axis.left
        else:
            anchor = "middle"
        return (
            f'<text class="{cls}" x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}">'
            f"{_esc(text)}</text>"
        )

    def _draw_tooltip(self, d: DrawMark, kind: str) -> str:
        when = _long_date(d.on)
        if kind == "planned":
            return f"Draw {d.number}: planned, due {when}"
        text = f"Draw {d.number}: collected {when}, {DRAW_KINDS[kind]}"
        found = _vafs(d)
        if found:
            text += ": " + ", ".join(f"{s} {_vaf(v)}%" for s, v in found.items())
        return text

    # ---- 3. VAF chart --------------------------------------------------------------

    def _vaf_chart(self, out: list[str], top: float) -> float:
        usable = [d for d in self.draws if _draw_kind(d) in ("detected", "not-detected")]
        all_vafs = [v for d in usable for v in _vafs(d).values()]
        floor = VAF_FLOOR_LOW if any(v < VAF_FLOOR for v in all_vafs) else VAF_FLOOR
        # Data range on top: a 0.4% finding gets the whole height up to 1%, not a sliver.
        # (5% headroom so a value on a decade does not sit on the top edge.)
        ceiling = 10 ** max(0, math.ceil(math.log10(max(all_vafs, default=0.5) * 1.05)))
        ceiling = min(max(ceiling, 1.0), 100.0)
        scale = _LogScale(floor, ceiling, top, top + VAF_H)
        base_y = top + VAF_H + VAF_GAP + BASE_ROW_H / 2
        bottom = top + VAF_H + VAF_GAP + BASE_ROW_H
        left, right = self.axis.left, self.axis.right

        # Guides first so everything else draws over them.
        for x, y0 in self.guides:
            out.append(
                f'<line class="tl-guide" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y0 + 1)}" '
                f'y2="{_n(bottom)}"/>'
            )

        self._row_label(out, top + VAF_H / 2 - 6, "ESR1 VAF", "log scale")
        out.append(
            f'<rect class="tl-vaf-area" x="{_n(left)}" y="{_n(top)}" '
            f'width="{_n(right - left)}" height="{VAF_H}"/>'
        )
        decade = ceiling
        while decade >= floor * 0.999:
            ty = scale.y(decade)
            label = f"{decade:g}%"
            out.append(
                f'<line class="tl-vaf-grid" x1="{_n(left)}" x2="{_n(right)}" '
                f'y1="{_n(ty)}" y2="{_n(ty)}"/>'
            )
            out.append(
                f'<text class="tl-tick-label" x="{_n(left - 6)}" y="{_n(ty + 4)}" '
                f'text-anchor="end">{label}</text>'
            )
            decade /= 10
        # The y axis, broken between the log area and the "not detected" row: zero has
        # no place on a log scale, so it gets a row of its own.
        out.append(
            f'<line class="tl-axis" x1="{_n(left)}" x2="{_n(left)}" y1="{_n(top)}" '
            f'y2="{_n(top + VAF_H)}"/>'
        )
        out.append(
            f'<line class="tl-axis" x1="{_n(left)}" x2="{_n(left)}" '
            f'y1="{_n(top + VAF_H + VAF_GAP)}" y2="{_n(bottom)}"/>'
        )
        for dy in (4, 9):
            by = top + VAF_H + dy
            out.append(
                f'<line class="tl-axis-break" x1="{_n(left - 5)}" x2="{_n(left + 5)}" '
                f'y1="{_n(by + 3)}" y2="{_n(by - 3)}"/>'
            )
        out.append(
            f'<line class="tl-baseline" x1="{_n(left)}" x2="{_n(right)}" '
            f'y1="{_n(base_y)}" y2="{_n(base_y)}"/>'
        )
        self._row_label(out, base_y + 4, "Not detected")

        if not any(_draw_kind(d) in ("detected", "not-detected", "failed") for d in self.draws):
            out.append(
                f'<text class="tl-note" x="{_n((left + right) / 2)}" '
                f'y="{_n(top + VAF_H / 2 + 4)}" text-anchor="middle">No ctDNA results yet</text>'
            )

        # Baseline marks: one per draw, whatever the number of variants followed.
        for d in self.draws:
            kind = _draw_kind(d)
            x = self.axis.x(d.on)
            if kind == "not-detected":
                shape = '<circle class="tl-base-mark" r="4.5"/>'
                cls = "tl-base tl-base-not-detected"
                tip = f"Draw {d.number}, {_long_date(d.on)}: {DRAW_KINDS[kind]}"
            elif kind == "failed":
                shape = '<rect class="tl-base-mark" x="-5" y="-5" width="10" height="10"/>'
                cls = "tl-base tl-base-failed"
                tip = f"Draw {d.number}, {_long_date(d.on)}: result failed (not tested)"
            else:
                continue
            out.append(
                f'<g class="{cls}" data-number="{_esc(d.number)}" '
                f'transform="translate({_n(x)},{_n(base_y)})"><title>{_esc(tip)}</title>'
                f"{shape}</g>"
            )

        self.variant_order = self._variant_lines(out, scale, base_y)
        return bottom

    def _variant_lines(self, out: list[str], scale: _LogScale, base_y: float) -> list[str]:
        """One line per variant across consecutive usable results.

        A failed or missing result breaks the line (not tested is a gap, not a zero). A
        result without the variant puts it on the baseline, but only next to a detection:
        the rise from "not detected" (emergence) and the fall back to it are drawn, long
        runs of "not detected" are left to the baseline marks."""
        series: dict[str, list[tuple[DrawMark, float] | None]] = {}
        order: list[str] = []
        for d in self.draws:
            if _draw_kind(d) == "detected":
                for short in _vafs(d):
                    if short not in series:
                        series[short] = []
                        order.append(short)
        for short in order:
            points: list[tuple[DrawMark, float] | None] = []
            for d in self.draws:
                kind = _draw_kind(d)
                if kind in ("detected", "not-detected"):
                    points.append((d, _vafs(d).get(short, 0.0)))
                else:  # failed, awaiting a result or planned: not tested, a gap
                    points.append(None)
            series[short] = points

        for index, short in enumerate(order):
            style = f"tl-var-{index % N_VARIANT_STYLES}"
            points = series[short]
            chains: list[list[tuple[float, float]]] = []
            chain: list[tuple[float, float]] = []
            for a, b in zip(points, points[1:], strict=False):
                if a is None or b is None or (a[1] <= 0 and b[1] <= 0):
                    if chain:
                        chains.append(chain)
                        chain = []
                    continue
                pa, pb = self._vaf_xy(a, scale, base_y), self._vaf_xy(b, scale, base_y)
                if not chain:
                    chain = [pa]
                chain.append(pb)
            if chain:
                chains.append(chain)
            out.append(f'<g class="tl-variant {style}" data-variant="{_esc(short)}">')
            for c in chains:
                pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in c)
                out.append(f'<polyline class="tl-vline" points="{pts}"/>')
            for p in points:
                if p is None or p[1] <= 0:
                    continue
                d, vaf = p
                x, y = self._vaf_xy(p, scale, base_y)
                tip = f"ESR1 {short} {_vaf(vaf)}%, draw {d.number}, {_long_date(d.on)}"
                out.append(
                    f'<g class="tl-point" data-number="{_esc(d.number)}" '
                    f'data-vaf="{_esc(_vaf(vaf))}" transform="translate({_n(x)},{_n(y)})">'
                    f"<title>{_esc(tip)}</title>{_marker(index)}</g>"
                )
            out.append("</g>")

        # Point at the first detection: the moment the programme exists to catch.
        detections = _first_detections(self.draws)
        if detections:
            short, d, vaf = detections[0]
            x, y = self._vaf_xy((d, vaf), scale, base_y)
            text = f"first ESR1: {short} {_vaf(vaf)}%"
            w = _text_w(text, 10.5)
            anchor, tx = ("end", x - 10) if x - 10 - w > self.axis.left else ("start", x + 10)
            ty = y - 10 if y - 10 > scale.top + 8 else y + 18
            out.append(
                f'<text class="tl-first-label" x="{_n(tx)}" y="{_n(ty)}" '
                f'text-anchor="{anchor}">{_esc(text)}</text>'
            )
        return order

    def _vaf_xy(self, point: tuple[DrawMark, float], scale: _LogScale, base_y: float):
        d, vaf = point
        return self.axis.x(d.on), (scale.y(vaf) if vaf > 0 else base_y)

    # ---- 4. date axis, grid, today -------------------------------------------------

    def _ticks(self) -> tuple[list[tuple[date, str]], list[date]]:
        axis = self.axis
        days = (axis.end - axis.start).days
        px_per_month = (axis.right - axis.left) / (days / 30.44)
        step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if s * px_per_month >= 66), 120)
        major: list[tuple[date, str]] = []
        minor: list[date] = []
        d = _add_months(axis.start, 1)
        minor_step = 1 if px_per_month >= 8 else 3
        while d <= axis.end:
            index = d.year * 12 + d.month - 1
            if index % step == 0:
                label = str(d.year) if step >= 12 else f"{MONTHS[d.month - 1]} {d.year}"
                major.append((d, label))
            elif index % minor_step == 0:
                minor.append(d)
            d = _add_months(d, 1)
        if px_per_month >= 120:  # a range of a few months: mid-month ticks help
            d = axis.start
            while d <= axis.end:
                if d.day == 15:
                    minor.append(d)
                d += timedelta(days=1)
        return major, minor

    def _grid(self, top: float, bottom: float) -> list[str]:
        major, _ = self._ticks()
        return [
            f'<line class="tl-grid" x1="{_n(self.axis.x(d))}" x2="{_n(self.axis.x(d))}" '
            f'y1="{_n(top)}" y2="{_n(bottom)}"/>'
            for d, _label in major
        ]

    def _date_ticks(self, out: list[str], y: float) -> float:
        major, minor = self._ticks()
        left, right = self.axis.left, self.axis.right
        out.append(
            f'<line class="tl-axis" x1="{_n(left)}" x2="{_n(right)}" y1="{_n(y)}" y2="{_n(y)}"/>'
        )
        for d in minor:
            x = _n(self.axis.x(d))
            out.append(
                f'<line class="tl-tick-minor" x1="{x}" x2="{x}" y1="{_n(y)}" y2="{_n(y + 3)}"/>'
            )
        for d, label in major:
            x = self.axis.x(d)
            out.append(
                f'<line class="tl-tick" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y)}" y2="{_n(y + 5)}"/>'
            )
            if x + _text_w(label, 11) / 2 <= self.width - 2:
                out.append(
                    f'<text class="tl-tick-label tl-date-label" x="{_n(x)}" y="{_n(y + 18)}" '
                    f'text-anchor="middle" data-date="{d.isoformat()}">{_esc(label)}</text>'
                )
        return y + AXIS_H

    def _today(self, top: float, bottom: float) -> list[str]:
        x = self.today_x
        label = f"Today {_long_date(self.data.today)}"
        w = _text_w(label, 11)
        anchor = "end" if x + w / 2 > self.width - 4 else "middle"
        tx = x + 4 if anchor == "end" else x
        anchor, tx = ("start", x - 4) if x - w / 2 < 4 else (anchor, tx)
        return [
            f'<line class="tl-today" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" '
            f'y2="{_n(bottom)}" data-date="{self.data.today.isoformat()}"/>',
            f'<text class="tl-today-label" x="{_n(tx)}" y="{_n(top - 4)}" '
            f'text-anchor="{anchor}">{_esc(label)}</text>',
        ]

    # ---- legend ------------------------------------------------------------------

    def _legend(self, out: list[str], y: float) -> float:
        """Key to every symbol, drawn in the picture so that a print carries it."""
        items: list[tuple[float, str]] = []  # (width, markup with x=0 origin)
        for index, short in enumerate(self.variant_order):
            style = f"tl-var-{index % N_VARIANT_STYLES}"
            text = f"ESR1 {short}"
            items.append(
                (
                    34 + _text_w(text, 11) + 16,
                    f'<g class="tl-variant {style}"><line class="tl-vline" x1="0" x2="28" '
                    f'y1="0" y2="0"/><g transform="translate(14,0)">{_marker(index)}</g></g>'
                    f'<text class="tl-legend-label" x="34" y="4">{_esc(text)}</text>',
                )
            )
        present = {_draw_kind(d) for d in self.draws}
        for kind, text in DRAW_KINDS.items():
            if kind not in present:
                continue
            items.append(
                (
                    18 + _text_w(text, 11) + 16,
                    f'<g class="tl-draw tl-draw-{kind}"><circle class="tl-draw-mark" cx="6" '
                    f'r="6"/></g><text class="tl-legend-label" x="18" y="4">{text}</text>',
                )
            )
        if any(a.response == "PD" for a in self.assessments):
            items.append(
                (
                    18 + _text_w("progression (PD)", 11) + 16,
                    '<polygon class="tl-pd-mark" points="0,-6 12,-6 6,5"/>'
                    '<text class="tl-legend-label" x="18" y="4">progression (PD)</text>',
                )
            )
        if not items:
            return y
        x, row = float(self.axis.left), 0
        out.append(f'<text class="tl-rowlabel" x="8" y="{_n(y + 12)}">Key</text>')
        for w, markup in items:
            if x + w > self.width - 4 and x > self.axis.left:
                x, row = float(self.axis.left), row + 1
            ly = y + 8 + row * LEGEND_ROW_H
            out.append(
                f'<g class="tl-legend-item" transform="translate({_n(x)},{_n(ly)})">{markup}</g>'
            )
            x += w
        return y + (row + 1) * LEGEND_ROW_H + 4


def _marker(index: int) -> str:
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

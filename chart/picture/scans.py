"""Row 2: scans as small diamonds with their response; progression (PD) as a large
downward triangle with a rule through the whole picture, the event the programme races."""

from __future__ import annotations

from chart.picture.data import AssessmentMark
from chart.picture.layout import GUTTER, Frame, stack
from chart.picture.svg import cls, esc, num, row_label
from chart.picture.words import MODALITIES, RESPONSES, long_date

SCAN_ROW_H = 34
SCAN_STACK = 16  # vertical step when scans on nearby dates collide
SCAN_SPACING = 20  # scans closer than this on the x axis go to another sub-row


def place_scans(
    frame: Frame, assessments: list[AssessmentMark], y: float
) -> tuple[list[tuple[AssessmentMark, float, float]], float]:
    """(scan, x, y) of each scan, and the y below the row."""
    xs = [frame.axis.x(a.on) for a in assessments]
    rows = stack(xs, SCAN_SPACING)
    n_rows = max(rows, default=0) + 1
    centres = [
        (a, x, y + 10 + row * SCAN_STACK) for a, x, row in zip(assessments, xs, rows, strict=True)
    ]
    return centres, y + (SCAN_ROW_H + (n_rows - 1) * SCAN_STACK)


def render_scans(
    out: list[str], frame: Frame, assessments: list[AssessmentMark], y: float
) -> float:
    """Writes the scans row from ``y`` down; returns the y below it."""
    centres, bottom = place_scans(frame, assessments, y)
    row_label(out, y + 15, "Scans")
    if not assessments:
        out.append(
            f'<text class="tl-note" x="{GUTTER + 6}" y="{num(y + 15)}">No scans recorded</text>'
        )
    for a, x, cy in centres:
        out += _scan_markup(a, x, cy)
    return bottom


def _scan_markup(a: AssessmentMark, x: float, cy: float) -> list[str]:
    modality = MODALITIES.get(a.modality, a.modality or "Imaging")
    response = RESPONSES.get(a.response, a.response)
    tip = f"{modality} {long_date(a.on)}: {a.response} ({response})"
    pd = a.response == "PD"
    classes = f"tl-assess tl-resp-{cls(a.response)}" + (" tl-pd" if pd else "")
    out = [
        f'<g class="{classes}" data-id="{esc(a.id)}" transform="translate({num(x)},{num(cy)})">',
        f"<title>{esc(tip)}</title>",
    ]
    if pd:
        # Progression is the event the whole programme races against: big, dark,
        # a downward triangle (a distinct shape in print) with its name on it.
        out.append('<polygon class="tl-pd-mark" points="-8,-7 8,-7 0,7"/>')
        out.append('<text class="tl-pd-label" x="11" y="5">PD</text>')
    else:
        out.append('<polygon class="tl-assess-mark" points="0,-5 5,0 0,5 -5,0"/>')
        out.append(
            f'<text class="tl-assess-label" x="0" y="16" text-anchor="middle">'
            f"{esc(a.response)}</text>"
        )
    out.append("</g>")
    return out


def pd_rules(
    frame: Frame, assessments: list[AssessmentMark], top: float, bottom: float
) -> list[str]:
    """A vertical rule at each progression, from the top row through the VAF chart."""
    out = []
    for a in assessments:
        if a.response == "PD":
            x = num(frame.axis.x(a.on))
            out.append(
                f'<line class="tl-pd-rule" x1="{x}" x2="{x}" y1="{num(top)}" y2="{num(bottom)}"/>'
            )
    return out

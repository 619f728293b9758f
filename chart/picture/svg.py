"""Markup primitives: escaping, numbers, text width estimates, the ``<svg>`` opening.

No inline styles and no scripts: the app's Content-Security-Policy forbids them. All
appearance comes from classes styled in ``static/css/timeline.css``.
"""

from __future__ import annotations

import html
import re

FONT = 12  # base font size; must match timeline.css
CHAR_W = 0.6  # average glyph advance per font-size unit, for label truncation

# Characters XML 1.0 cannot carry at all; a label pasted from another system may hold them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CLASS_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def esc(text: object) -> str:
    """Escape for both text and attribute values (quotes included)."""
    return html.escape(_XML_INVALID.sub("", str(text)), quote=True)


def cls(text: str) -> str:
    """A value safe to splice into a class name."""
    return _CLASS_UNSAFE.sub("-", str(text).lower()).strip("-") or "unknown"


def num(value: float) -> str:
    """Coordinates with one decimal: precise enough, and keeps the markup small."""
    out = f"{value:.1f}"
    return out[:-2] if out.endswith(".0") else out


def text_w(text: str, size: float = FONT) -> float:
    return len(text) * size * CHAR_W


def fit(text: str, max_w: float, size: float = FONT) -> tuple[str, bool]:
    """Shorten ``text`` with an ellipsis to about ``max_w``; says whether it was cut."""
    if text_w(text, size) <= max_w:
        return text, False
    keep = int(max_w / (size * CHAR_W)) - 1
    if keep < 1:
        return "", True
    return text[:keep].rstrip() + "…", True


def open_svg(width: int, height: float, prefix: str, title: str, desc: str) -> list[str]:
    """The ``<svg>`` start tag, its accessible name and description, the white frame."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="tl-svg" role="img" '
        f'viewBox="0 0 {width} {num(height)}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{prefix}-title {prefix}-desc">',
        f'<title id="{prefix}-title">{esc(title)}</title>',
        f'<desc id="{prefix}-desc">{esc(desc)}</desc>',
        f'<rect class="tl-frame" x="0" y="0" width="{width}" height="{num(height)}"/>',
    ]


def row_label(out: list[str], y: float, text: str, sub: str = "") -> None:
    """A row's name (and a smaller second line) in the left gutter."""
    out.append(f'<text class="tl-rowlabel" x="8" y="{num(y)}">{esc(text)}</text>')
    if sub:
        out.append(f'<text class="tl-rowsub" x="8" y="{num(y + 13)}">{esc(sub)}</text>')

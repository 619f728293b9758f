"""`{% draw_rows %}` and `{% alert_rows %}`: the rows of the nurses' worklist.

The page shows five sections of 25 rows. As a template per row, every cell was a variable
lookup, a filter or a link tag: about 1,950 lookups, 126 date filters and 275 links per view,
61% of the request's CPU at 100,000 patients. Here a section's rows are one `format_html_join`
over the words the selector worked out (surveillance.selectors.DrawRow, AlertRow): each value
is escaped as the template escaped it, and the HTML is the rows' HTML as before (but for
whitespace next to the table's tags).
"""

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from surveillance.templatetags.row_links import row_url_of

register = template.Library()

_DRAW_ROW = (
    "\n<tr>\n"
    '  <td><a href="{}">{}</a><br><span class="muted">{}</span></td>\n'
    "  <td>{}{}</td>\n"
    '  <td><a class="button primary" href="{}">{}</a></td>\n'
    "</tr>\n"
)
_REPEAT_TEST = mark_safe(' <span class="tag">repeat test</span>')  # noqa: S308 - a constant

_ALERT_ROW = (
    '<tr id="alert-{}">\n'
    '  <td><span class="sev sev-{}">{}</span></td>\n'
    '  <td><a href="{}">{}</a><br><span class="muted">{}</span></td>\n'
    '  <td><strong>{}</strong><br><span class="muted">{} · opened {} · <a href="{}">policy v{}</a>'
    "</span></td>\n"
    "  <td>{}</td>\n"
    '  <td><a class="button" href="{}">Decide</a></td>\n'
    "</tr>\n"
)


@register.simple_tag
def draw_rows(rows) -> str:
    """The table rows of a draw section: the patient, the due (or collected) day, and the
    button that records the draw (planned) or enters its result (collected)."""

    def cells(row):
        patient = row_url_of("patient-detail", row.patient_id)
        if row.planned:
            action = (row_url_of("draw-create", row.patient_id), "Record draw")
        else:
            action = (row_url_of("result-create", row.id), "Enter result")
        tag = _REPEAT_TEST if row.pinned else ""
        return (patient, row.patient_name, row.mrn, row.when, tag, *action)

    return format_html_join("", _DRAW_ROW, (cells(row) for row in rows))


@register.simple_tag
def alert_rows(rows) -> str:
    """The table rows of the draw alerts: severity, patient, what and why, and the button
    that decides the alert."""

    def cells(row):
        return (
            row.id, row.severity, row.severity_label,
            row_url_of("patient-detail", row.patient_id), row.patient_name, row.mrn,
            row.title, row.kind_label, row.opened,
            row_url_of("policy-version", row.policy_version), row.policy_version,
            row.why, row_url_of("alert-resolve", row.id),
        )  # fmt: skip

    return format_html_join("", _ALERT_ROW, (cells(row) for row in rows))

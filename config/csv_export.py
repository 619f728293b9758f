"""CSV downloads that a spreadsheet opens safely."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# A spreadsheet reads a cell starting with one of these as a formula (or, for tab and
# carriage return, strips the character and reads what follows as one).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """The text of one cell, with a leading apostrophe where it would start a formula
    (OWASP "CSV injection"): `=HYPERLINK(...)` in a note must stay text in Excel."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write() hands the line back, for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]):
    """Stream `rows` as a CSV attachment; every cell goes through csv_safe()."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

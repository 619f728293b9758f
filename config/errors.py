"""The one shape of a refused write, and the two places that render it.

A service checks everything first, collecting what is wrong with `Errors`, and raises one
Django `ValidationError` keyed by field; a problem with the input as a whole goes under
`NON_FIELD_ERRORS`. A problem in one row of a list field (a result's variants) is a `RowError`
that carries the row's index, the field within the row and the message, so no caller decodes
a row from message text or from codes and params.

Two renderers read that shape, and nothing else does:

- `config.api.api_detail` (the API's 400): `{field: [messages]}`, `non_field_errors` for the
  rest, and row errors nested the way DRF nests a list serializer's own errors,
  `{"variants": {"1": {"protein_change": [...]}}}` (0-based row index), so a row the service
  rejects reads like a row the parser rejected;
- `patients.forms.apply_service_errors` (the pages): each message next to its field, a row
  error on its row of the formset, the rest at the top of the form.

A write that is well formed but collides with what is already stored (the same sample
recorded twice, a decision on evidence that has since changed) raises a `Conflict` instead:
the API answers it with a 409 `{"detail": ..., <the record it collides with>}` and a page
shows the record, so the person can look at it rather than retype.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class RowError(ValidationError):
    """One problem in row `index` (0-based) of a list field of `row_count` rows: the row's
    `field` (or NON_FIELD_ERRORS for the row as a whole) and the `detail` message.

    Its plain message ("Row 2, gene: ...", with `noun` and `labels` set by a subclass) reads
    well wherever the structure is not used: a log line, a summary, a rejected import."""

    noun = "Row"
    labels: Mapping[str, str] = {NON_FIELD_ERRORS: "entry"}

    def __init__(self, index: int, field: str, detail: str, *, row_count: int):
        self.index = index
        self.field = field
        self.detail = detail
        self.row_count = row_count
        label = self.labels.get(field, field)
        super().__init__(f"{self.noun} {index + 1}, {label}: {detail}")


class Conflict(Exception):
    """A write refused because the stored records have moved on or already hold it. Nothing
    was saved. `detail` says so in words; subclasses carry the record in question, and
    `body()` names it for the API's 409 (config.api)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict:
        return {}


class Errors:
    """Collects every problem with a write, so a person sees them all at once."""

    def __init__(self) -> None:
        self._by_field: dict[str, list[str | ValidationError]] = {}

    def add(self, field: str | None, message: str | ValidationError) -> None:
        """`field` None: a problem with the input as a whole (NON_FIELD_ERRORS)."""
        self._by_field.setdefault(field or NON_FIELD_ERRORS, []).append(message)

    def extend(self, field: str | None, messages) -> None:
        for message in messages:
            self.add(field, message)

    def __contains__(self, field: str) -> bool:
        return field in self._by_field

    def __bool__(self) -> bool:
        return bool(self._by_field)

    @property
    def fields(self) -> list[str]:
        return list(self._by_field)

    def raise_if_any(self) -> None:
        if self._by_field:
            raise ValidationError(self._by_field)

"""Paging long, ordered lists: the page's ids first, then that page's rows."""

import base64
import json
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Window
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class PageByIdPaginator(Paginator):
    """A Paginator that picks a page's ids with the list's own filters and order, then loads
    only those rows with everything they render (select_related joins, annotations).

    With the plain Paginator a deep page (OFFSET 50,000) makes Postgres build every skipped
    row first, joins and subqueries included; here the OFFSET runs on the narrow id query,
    which an index on the order can answer alone. The COUNT(*) leaves unused annotations
    and select_related out already. The list's order must be total (end with the primary
    key), as any paged list's should.
    """

    def page(self, number):
        page = super().page(number)
        page.object_list = self.object_list.filter(pk__in=page.object_list.values("pk"))
        return page


class OnePassPaginator(PageByIdPaginator):
    """PageByIdPaginator for a list whose filter costs more than its order, such as a search:
    its total and a page's ids come from one query (`count(*) OVER ()` beside the ids), so
    the matches are found once, not once to count them and again to page them. At 100,000
    patients a name shared by 2,000 of them is found in 100-200 ms under load, twice before.

    Use `get_page()`; a number past the last page (or not a positive number) is answered
    as Paginator.get_page() answers it, counting the usual way."""

    def get_page(self, number):
        try:
            wanted = 1 if number in (None, "") else int(number)
        except (TypeError, ValueError):
            wanted = 1  # Paginator.get_page: not an integer, the first page
        if wanted < 1:
            return super().get_page(number)
        start = (wanted - 1) * self.per_page
        rows = list(
            self.object_list.annotate(one_pass_total=Window(Count("*"))).values_list(
                "pk", "one_pass_total"
            )[start : start + self.per_page]
        )
        if not rows and wanted > 1:
            return super().get_page(number)  # past the end: the last page, as Paginator
        self.__dict__["count"] = rows[0][1] if rows else 0  # Paginator.count is cached
        ids = [pk for pk, _ in rows]
        return self._get_page(self.object_list.filter(pk__in=ids), wanted, self)


# --- Keyset pages ------------------------------------------------------------------------------
#
# An OFFSET page, however narrow its id query, still makes Postgres walk (or, for a filtered
# list whose filter is on another table, sort) every row before it: page 2,000 of the
# eligible high-risk patients read 50,000. A keyset page starts from where the previous one
# ended instead: "the 25 rows after (Smith, Ann, 81234) in this order", which is an index
# range scan from that key whatever the depth. Its links carry that key as an opaque cursor
# (`after=` / `before=`), so paging is stable: a row added or removed elsewhere in the list
# shifts no page by one. The order must be total (end with the primary key).


class InvalidCursor(ValueError):
    pass


@dataclass
class KeysetPage:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None
    number = None  # no page numbers: links go by key

    def __iter__(self):
        return iter(self.rows)

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


def encode_cursor(values) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list:
    """The key a cursor carries; InvalidCursor unless it is `length` strings or numbers."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as error:
        raise InvalidCursor(cursor) from error
    if (
        not isinstance(values, list)
        or len(values) != length
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
        or not isinstance(values[-1], int)
    ):
        raise InvalidCursor(cursor)
    return values


def keyset_page(queryset, *, fields: tuple[str, ...], size: int, after: str | None = None,
                before: str | None = None) -> KeysetPage:  # fmt: skip
    """The `size` rows of `queryset` in the order of `fields` (ascending; the last one
    unique) after the cursor `after`, or before the cursor `before`, or from the start.

    The queryset's own ordering, when it has one, must be that order written otherwise (as
    expressions that sort the same); it is kept, and reversed for `before`."""
    ascending = list(queryset.query.order_by) or list(fields)
    descending = [
        (f"-{o}" if not o.startswith("-") else o[1:]) if isinstance(o, str) else o.copy()
        for o in ascending
    ]
    for o in descending:
        if not isinstance(o, str):
            o.reverse_ordering()
    model = queryset.model
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(
        f"{table}.{connection.ops.quote_name(model._meta.get_field(f).column)}" for f in fields
    )
    marks = ", ".join(["%s"] * len(fields))
    if before is not None:
        key = decode_cursor(before, len(fields))
        # Row comparison, which Postgres answers with a range scan of the order's index; the
        # columns come from the model, the key's values are bound parameters.
        backwards = queryset.extra(where=[f"({columns}) < ({marks})"], params=key)  # noqa: S610
        rows = list(backwards.order_by(*descending)[: size + 1])
        has_previous, has_next = len(rows) > size, True
        rows = rows[:size][::-1]
    else:
        if after is not None:
            key = decode_cursor(after, len(fields))
            queryset = queryset.extra(where=[f"({columns}) > ({marks})"], params=key)  # noqa: S610
        rows = list(queryset.order_by(*ascending)[: size + 1])
        has_previous, has_next = after is not None, len(rows) > size
        rows = rows[:size]

    def cursor(row) -> str:
        return encode_cursor(getattr(row, f) for f in fields)

    return KeysetPage(
        rows,
        next_cursor=cursor(rows[-1]) if rows and has_next else None,
        previous_cursor=cursor(rows[0]) if rows and has_previous else None,
    )


class KeysetPagination(PageNumberPagination):
    """API paging by number (`?page=`, as every list) or by key (`?after=` / `?before=`, a
    cursor from a `next` or `previous` link), with `count`, `next`, `previous` and `results`
    either way. `next` is always a keyset link, so a client that follows it never asks
    for an OFFSET page. Set `ordering` to the list's total order (ascending)."""

    django_paginator_class = PageByIdPaginator
    ordering: tuple[str, ...] = ()

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.keyset = None
        after = request.query_params.get("after") or None
        before = request.query_params.get("before") or None
        if not (after or before):
            rows = super().paginate_queryset(queryset, request, view)
            if rows is not None:
                self.next_cursor = (
                    encode_cursor(getattr(rows[-1], f) for f in self.ordering)
                    if rows and self.page.has_next()
                    else None
                )
            return rows
        try:
            self.keyset = keyset_page(
                queryset, fields=self.ordering, size=self.get_page_size(request), after=after,
                before=None if after else before,
            )  # fmt: skip
        except InvalidCursor:
            name = "after" if after else "before"
            raise ValidationError(
                {name: ["Not a cursor of this list: follow the next or previous link."]}
            ) from None
        self.count = queryset.count()
        return self.keyset.rows

    def _link(self, **cursor) -> str:
        url = self.request.build_absolute_uri()
        for name in ("page", "after", "before"):
            url = remove_query_param(url, name)
        ((name, value),) = cursor.items()
        return replace_query_param(url, name, value)

    def get_next_link(self):
        cursor = self.keyset.next_cursor if self.keyset is not None else self.next_cursor
        return self._link(after=cursor) if cursor else None

    def get_previous_link(self):
        if self.keyset is None:
            return super().get_previous_link()
        cursor = self.keyset.previous_cursor
        return self._link(before=cursor) if cursor else None

    def get_paginated_response(self, data):
        if self.keyset is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view):
        cursor = "a cursor from a `next` or `previous` link"
        return [
            *super().get_schema_operation_parameters(view),
            {"name": "after", "required": False, "in": "query",
             "description": f"The page after {cursor}.", "schema": {"type": "string"}},
            {"name": "before", "required": False, "in": "query",
             "description": f"The page before {cursor}.", "schema": {"type": "string"}},
        ]  # fmt: skip

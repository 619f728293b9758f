"""Paging long, ordered lists: the page's ids first, then that page's rows."""

from django.core.paginator import Paginator


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

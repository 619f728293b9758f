"""The totals of the nurses' worklist sections, kept for a minute.

Each section of the clinic-wide worklist shows its total; counting every overdue draw and open
draw alert of a large network on every page view was most of the page's time. The totals are
the same for every nurse, so they are computed once and kept in the cache for up to
CACHE_SECONDS; another user's change shows in the totals within that minute (the rows
themselves are always read live).

Never stale after your own change: a successful write request (any POST, PUT, PATCH or
DELETE answered below 400, through a page or the API) notes the time for that user
(`WriteNoteMiddleware`), and for the next CACHE_SECONDS that user's worklist counts afresh,
which also covers the evaluation the change sets off on the worker a few seconds later. The
fresh totals replace the cached ones for everybody.

The cache is Redis; if it does not answer, the totals are counted on every view as before.
"""

import logging
import time
import uuid

from django.core.cache import cache

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Part of every key: start_afresh() changes it, which forgets everything kept.
_namespace = "1"


def _counts_key(today) -> str:
    return f"worklist-counts:{_namespace}:{today.isoformat()}"


def _wrote_key(user_id: int) -> str:
    return f"worklist-wrote:{_namespace}:{user_id}"


def start_afresh() -> None:
    """Forget every kept total and noted write of this process (tests, whose data changes
    without a request and whose ids repeat from one test to the next)."""
    global _namespace
    _namespace = uuid.uuid4().hex


def note_write(user_id: int) -> None:
    try:
        cache.set(_wrote_key(user_id), time.time(), CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable: worklist totals are counted on every view")


def section_counts(*, user, today, sections: dict) -> dict[str, int]:
    """{section name: row count} of these unevaluated querysets, from the cache when that is
    under a minute old and the user has not written since a minute ago."""
    try:
        recent_write = cache.get(_wrote_key(user.pk))
        cached = None if recent_write is not None else cache.get(_counts_key(today))
    except Exception:
        recent_write, cached = None, None
    if cached is not None and set(cached) == set(sections):
        return cached
    counts = {name: queryset.count() for name, queryset in sections.items()}
    try:
        cache.set(_counts_key(today), counts, CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable: worklist totals are counted on every view")
    return counts


def kept_count(key: str, *, user, queryset) -> int:
    """queryset.count(), kept under `key` for CACHE_SECONDS by the same rule as the worklist's
    totals (never older than the user's own last write). For totals shown beside a list
    whose rows are read live, e.g. a filtered patient list paged by key."""
    cache_key = f"kept-count:{_namespace}:{key}"
    try:
        recent_write = cache.get(_wrote_key(user.pk))
        cached = None if recent_write is not None else cache.get(cache_key)
    except Exception:
        cached = None
    if cached is not None:
        return cached
    count = queryset.count()
    try:
        cache.set(cache_key, count, CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable: list totals are counted on every view")
    return count


class WriteNoteMiddleware:
    """Notes each successful write request of a signed-in user (see module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method in _UNSAFE and response.status_code < 400:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                note_write(user.pk)
        return response

"""`{% row_url %}`: `{% url %}` for the links of long tables, whose arguments are ids.

`{% url %}` runs Django's reverse() for every link, about 40 microseconds each: on the nurses'
worklist (280 links in 125 rows) that was a third of the page's rendering. Here a URL's shape
is worked out once per name (reverse() with a marker in place of each argument), and each link
is that shape with its ids filled in: the string reverse() gives for integer arguments. Any
other argument goes through reverse() as before.
"""

from functools import lru_cache

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()

# Digits, as an <int:> argument must be; no URL of the project contains this number.
_MARK = "7130492865"


@lru_cache(maxsize=256)
def _shape(name: str, arity: int, prefix: str, urlconf) -> tuple[str, ...] | None:
    """The pieces of the URL between its arguments (`prefix`: the script prefix, which
    reverse() puts in front; part of the key because it is set per request)."""
    url = reverse(name, args=[int(_MARK)] * arity, urlconf=urlconf)
    pieces = tuple(url.split(_MARK))
    return pieces if len(pieces) == arity + 1 else None


def row_url_of(name: str, *args) -> str:
    if args and all(type(arg) is int for arg in args):
        pieces = _shape(name, len(args), get_script_prefix(), get_urlconf())
        if pieces is not None:
            parts = [pieces[0]]
            for arg, piece in zip(args, pieces[1:], strict=True):
                parts += (str(arg), piece)
            return "".join(parts)
    return reverse(name, args=args)


@register.simple_tag
def row_url(name: str, *args) -> str:
    """The URL named `name` with positional `args`, as `{% url name arg ... %}` gives it."""
    return row_url_of(name, *args)

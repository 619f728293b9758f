"""Template helpers for alerts: "policy vN" in a rationale as a link to that version's page,
and what an alert's evidence means where a page has not worked it out already."""

import re

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from surveillance.selectors import alert_readings

register = template.Library()

_POLICY_VERSION = re.compile(r"\bpolicy v(\d+)\b")


@register.filter
def link_policy(text):
    """`text`, escaped, with each "policy vN" in it a link to the page of version N."""
    pieces, end = [], 0
    text = str(text)
    for match in _POLICY_VERSION.finditer(text):
        url = reverse("policy-version", kwargs={"version": int(match[1])})
        pieces += [text[end : match.start()], format_html('<a href="{}">{}</a>', url, match[0])]
        end = match.end()
    pieces.append(text[end:])
    # Plain pieces are escaped here; the links, already safe, are kept as they are.
    return format_html_join("", "{}", ((piece,) for piece in pieces))


@register.simple_tag
def alert_reading(alert):
    """The alert's `reading` when the view attached one (None: nothing to say), else worked
    out now, in a few queries: for a page that shows one alert, such as the decision form."""
    if hasattr(alert, "reading"):
        return alert.reading
    return alert_readings([alert]).get(alert.id)

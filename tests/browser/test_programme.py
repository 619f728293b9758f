"""The programme page in Chromium for each role that may read it: the charts are images
with their accessible names, the print layout drops the navigation and keeps the tables,
and nothing breaks the Content-Security-Policy (the watcher of tests/security/test_csp.py)."""

import pytest

from accounts.roles import Role
from tests.factories import TODAY, UserFactory
from tests.programme.cohort import A, build_clinic
from tests.security.test_csp import PageWatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_NAMES = (
    "Patients from monitoring to a switch",
    "Draws collected on time (within 14 days of the due date), by month",
    "Days from collection to report, median and 90th percentile, by month",
    "ESR1 detections before and at documented progression, by month",
)


def test_programme_page_for_each_reading_role_on_screen_and_in_print(
    browser, live_server, make_user, screenshots
):
    clinic = build_clinic()
    path = f"/metrics/?from={A.isoformat()}&to={TODAY.isoformat()}"
    problems = []
    for role in (Role.ONCOLOGIST, Role.NURSE, Role.ADMIN):
        watch = PageWatch(browser, live_server.url, make_user(f"browser-{role}", role))
        page = watch.visit(path, wait_for="svg#chart-on-time")
        for name in CHART_NAMES:
            chart = page.get_by_role("img", name=name, exact=True)
            assert chart.count() == 1, (role, name)
            assert chart.is_visible()
            assert chart.get_attribute("aria-describedby")
        # The headline, from the hand-counted clinic; no patient named anywhere.
        assert "71.4%" in page.locator(".pm-headline").inner_text()
        html = page.content()
        assert not [word for word in clinic.identifying_words() if word in html]
        # The Print button is the static script's: hidden until it runs, then shown.
        assert page.get_by_role("button", name="Print").is_visible()
        assert page.get_by_role("navigation", name="Main").is_visible()
        if role == Role.NURSE:
            screenshots(page, "screen")

        page.emulate_media(media="print")
        assert not page.get_by_role("navigation", name="Main").is_visible()
        assert not page.locator("form.filters").is_visible()
        assert not page.get_by_role("button", name="Print").is_visible()
        assert page.locator("#table-by-month").is_visible()
        assert page.locator("#table-by-oncologist").is_visible()
        assert page.get_by_role("img", name=CHART_NAMES[1]).is_visible()
        if role == Role.NURSE:
            screenshots(page, "print")
        assert page.pdf(format="A4")[:4] == b"%PDF"  # the print layout renders
        watch.settle()
        problems += watch.problems
        watch.close()
    assert problems == [], "\n".join(problems)


def test_a_role_that_may_not_read_the_figures_gets_403(browser, live_server):
    """Only people running the programme read it: a laboratory system's account with a
    session is refused the page."""
    watch = PageWatch(browser, live_server.url, UserFactory(username="lab", role=Role.INTERFACE))
    response = watch.page.goto(live_server.url + "/metrics/")
    assert response is not None and response.status == 403
    assert not watch.page.locator("svg#chart-on-time").count()
    watch.close()

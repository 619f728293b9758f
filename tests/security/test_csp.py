"""Every page works in a real browser under the shipped Content-Security-Policy: no
violation, no script error, nothing fetched from another host, no failed request."""

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from surveillance import engine
from tests.factories import (
    AppointmentFactory,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("plain_static_storage"),
]

# Registered before any page script runs; DevTools-injected, so the CSP does not apply.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || document.location.pathname}:${e.lineNumber}`);
});
"""


class PageWatch:
    """One signed-in browser context that records every problem on every page it opens."""

    def __init__(self, browser, base_url: str, user=None):
        self.base = base_url
        self.host = urlsplit(base_url).netloc
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            self.context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
            )
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.current = ""
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self._problem(f"script error: {error}"))
        self.page.on("request", self._request)
        self.page.on("requestfailed", lambda r: self._problem(f"failed: {r.url} {r.failure}"))
        self.page.on("response", self._response)

    def _problem(self, text: str) -> None:
        self.problems.append(f"{self.current}: {text}")

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self._problem(f"console {message.type}: {message.text}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != self.host:
            self._problem(f"request to another host: {request.url}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self._problem(f"HTTP {response.status} for {response.url}")

    def visit(self, path: str, wait_for: str | None = None):
        self.current = path
        response = self.page.goto(self.base + path, wait_until="networkidle")
        if response is None or response.status != 200:
            self._problem(f"page answered {response and response.status}")
        assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}
        if wait_for:
            self.page.locator(wait_for).first.wait_for(timeout=15000)
        self.settle()
        return self.page

    def settle(self) -> None:
        """Collect the violations this document saw (before leaving it: each page starts a
        new list)."""
        self.page.wait_for_load_state("networkidle")
        for violation in self.page.evaluate("(window.__cspViolations || []).splice(0)"):
            self._problem(f"CSP violation: {violation}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def clinic(oncologist, nurse):
    """A patient with a full timeline (treatments, scans, draws, an ESR1 result and an open
    ESR1 alert), and a collected draw waiting for its result."""
    patient = PatientFactory(oncologist=oncologist, family_name="Lindqvist", enrolled_on=days(-300))
    TreatmentFactory(patient=patient, start_date=days(-280), end_date=days(-120),
                     end_reason="toxicity", cdk46_inhibitor_id="ribociclib")  # fmt: skip
    TreatmentFactory(patient=patient, start_date=days(-120))
    AssessmentFactory(patient=patient, date=days(-90))
    AssessmentFactory(patient=patient, date=days(-30), response="PR")
    AppointmentFactory(patient=patient, date=days(20))
    for offset, vaf in ((-100, None), (-40, Decimal("0.3"))):
        draw = DrawFactory(patient=patient, status="resulted", collected_on=days(offset))
        if vaf is None:
            ResultFactory(draw=draw, reported_on=days(offset + 7))
        else:
            result = ResultFactory(draw=draw, reported_on=days(offset + 7), esr1_status="detected")
            VariantFactory(result=result, vaf_percent=vaf)
    waiting = DrawFactory(patient=patient, status="collected", collected_on=days(-3))
    engine.run_for_patients([patient.id])
    return patient, waiting


def test_pages_run_clean_under_the_content_security_policy(
    browser, live_server, clinic, oncologist, nurse, admin_user
):
    patient, waiting = clinic
    watches = []

    anonymous = PageWatch(browser, live_server.url)
    watches.append(anonymous)
    anonymous.visit("/login/", wait_for="#id_username")

    onc = PageWatch(browser, live_server.url, oncologist)
    watches.append(onc)
    onc.visit("/", wait_for="table.worklist")
    onc.visit("/patients/")
    page = onc.visit(f"/patients/{patient.pk}/", wait_for="svg .tl-point")
    assert page.locator("svg .tl-draw").count() >= 2
    onc.page.get_by_role("link", name="Decide").first.click()
    onc.page.wait_for_url("**/resolve/")
    onc.current = "alert decision form"
    onc.settle()
    onc.visit("/policy/", wait_for="table.policy-terms")
    onc.visit(f"/patients/{patient.pk}/treatments/new/")
    onc.visit("/api/docs/", wait_for=".swagger-ui .opblock")
    assert "ESR1 Watch API" in onc.page.locator(".swagger-ui .info").inner_text()

    nur = PageWatch(browser, live_server.url, nurse)
    watches.append(nur)
    nur.visit("/", wait_for="#overdue-h")
    nur.visit(f"/patients/{patient.pk}/draws/new/")
    page = nur.visit(f"/draws/{waiting.pk}/result/", wait_for="#id_variants-0-gene")
    page.get_by_role("button", name="Add another variant").click()
    page.locator("#id_variants-1-gene").wait_for(timeout=10000)  # swapped in by htmx
    page.get_by_role("button", name="Add another variant").click()
    page.locator("#id_variants-2-gene").wait_for(timeout=10000)  # the out-of-band button
    nur.settle()
    nur.visit(reverse("account-security"))
    nur.visit(reverse("password-change"), wait_for="#id_new_password2")

    adm = PageWatch(browser, live_server.url, admin_user)
    watches.append(adm)
    adm.visit("/", wait_for=".admin-links")
    adm.visit("/admin/", wait_for="#content-main")
    adm.visit("/admin/patients/patientaccess/", wait_for="#changelist")
    adm.visit(f"/admin/pghistory/events/?patient={patient.pk}", wait_for="#changelist")
    adm.visit("/admin/accounts/user/", wait_for="#changelist")
    adm.visit(f"/admin/accounts/user/{nurse.pk}/change/", wait_for="#content-main form")
    adm.visit("/admin/surveillance/surveillancepolicy/add/", wait_for="#content-main form")
    adm.visit("/admin/patients/drug/", wait_for="#changelist")
    adm.visit(
        "/admin/surveillance/assayprofile/guardant360_cdx/change/", wait_for="#content-main form"
    )
    adm.visit("/policy/v1/", wait_for="table.policy-terms")

    problems = []
    for watch in watches:
        problems.extend(watch.problems)
        watch.close()
    assert problems == [], "\n".join(problems)

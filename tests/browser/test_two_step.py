"""Two-step sign-in in a real browser, under the real Content-Security-Policy: set up an
authenticator from the QR page, then sign in with a code."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD
from tests.two_step import code_for, unused_code


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_set_up_and_sign_in_with_a_code(browser, live_server, screenshots, settings, nurse):
    settings.MFA_REQUIRED = True
    base = live_server.url
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("nurse")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/account/security/setup/\?next=%2F$"))
    qr = page.locator("svg.qr-code")
    box = qr.bounding_box()
    assert box and box["width"] >= 150 and box["height"] >= 150
    screenshots(page, "set-up")

    device = TOTPDevice.objects.get(user=nurse)
    page.get_by_label("Code", exact=True).fill(code_for(device))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.get_by_role("heading", name="Two-step sign-in is on").wait_for()
    assert page.locator("ul.backup-codes li").count() == 10
    screenshots(page, "backup-codes")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{base}/")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login/"))
    page.get_by_label("Username").fill("nurse")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/login/code/")
    screenshots(page, "code-step")
    page.get_by_label("Code", exact=True).fill(unused_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base}/")
    assert "Welcome, Kim Park" in page.content()

    assert not [m for m in console if "Content Security Policy" in m], console
    context.close()

"""Production settings, security headers, caching of patient data, probes and body limits."""

import json
import runpy
import secrets
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from surveillance.models import Result
from tests.factories import DrawFactory, PatientFactory

ROOT = Path(__file__).resolve().parents[2]

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


# --- Production settings -----------------------------------------------------------------


def test_deploy_check_reports_nothing_under_production_settings(settings, monkeypatch):
    # The suite already runs with DEBUG false; add what it relaxes for plain-HTTP tests, and
    # drop what the browser tests set for Playwright.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    settings.SECURE_SSL_REDIRECT = True
    settings.SECRET_KEY = secrets.token_urlsafe(50)

    call_command("check", "--deploy", "--fail-level", "WARNING")


def test_the_policy_allows_nothing_inline_and_nothing_from_another_host(client):
    policy = client.get("/login/")["Content-Security-Policy"]

    assert directives(policy) == CSP
    assert "unsafe" not in policy and "http" not in policy


@pytest.mark.django_db
def test_every_page_carries_the_security_headers(client, nurse):
    client.force_login(nurse)

    response = client.get("/", secure=True)

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert directives(response["Content-Security-Policy"]) == CSP
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_secure_and_the_session_cookie_is_http_only(client, nurse):
    login_page = client.get("/login/", secure=True)
    csrf = login_page.cookies["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"

    client.force_login(nurse)
    session = client.get("/", secure=True).cookies["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


# --- Nothing with patient data is cached -------------------------------------------------


def _assert_no_store(response):
    assert "no-store" in response["Cache-Control"], response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"


@pytest.mark.django_db
def test_pages_and_api_responses_with_patient_data_are_not_stored(client, nurse, admin_user):
    patient = PatientFactory()
    draw = DrawFactory(patient=patient)
    client.force_login(nurse)
    for url in ["/", "/patients/", f"/patients/{patient.pk}/", f"/draws/{draw.pk}/result/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_no_store(response)

    api = APIClient()
    api.force_authenticate(nurse)
    for url in ["/api/v1/patients/", f"/api/v1/patients/{patient.pk}/timeline/", "/api/v1/draws/"]:
        response = api.get(url)
        assert response.status_code == 200, url
        _assert_no_store(response)

    admin = Client()
    admin.force_login(admin_user)
    _assert_no_store(admin.get("/admin/patients/patientaccess/"))
    _assert_no_store(APIClient().get("/api/v1/patients/"))  # a 401 too
    _assert_no_store(Client().get("/login/"))


def test_static_files_stay_cacheable(client):
    response = client.get("/static/css/app.css")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# --- Probes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_probes_answer_over_plain_http_while_pages_redirect_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    page = client.get("/login/")
    assert page.status_code == 301
    assert page["Location"] == "https://testserver/login/"


@pytest.mark.django_db
def test_probes_answer_whatever_host_the_orchestrator_uses(client, settings):
    # docker compose's health check calls http://127.0.0.1:8000/readyz; Kubernetes uses
    # the pod's address. Neither need be in ALLOWED_HOSTS.
    settings.ALLOWED_HOSTS = ["esr1watch.example-clinic.org"]
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert client.get("/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400
    assert client.post("/healthz").status_code == 405


# --- Request bodies ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_two_megabyte_json_body_is_refused_with_413_not_parsed(nurse):
    api = APIClient()
    api.force_authenticate(nurse)
    draw = DrawFactory()
    body = {
        "draw": draw.pk, "reported_on": "2026-01-05", "status": "final",
        "variants": [{"gene": "ESR1", "protein_change": "D538G", "vaf_percent": "0.5",
                      "padding": "x" * 1000} for _ in range(2000)],
    }  # fmt: skip
    payload = json.dumps(body)
    assert len(payload) > 2_000_000

    response = api.post("/api/v1/results/", payload, content_type="application/json")

    assert response.status_code == 413
    assert "the most this service accepts is 1048576 bytes" in response.json()["detail"]
    assert not Result.objects.filter(draw=draw).exists()


@pytest.mark.django_db
def test_a_body_under_the_limit_is_parsed_as_usual(nurse):
    api = APIClient()
    api.force_authenticate(nurse)
    payload = json.dumps({"draw": "not-a-draw", "padding": "x" * 900_000})

    response = api.post("/api/v1/results/", payload, content_type="application/json")

    assert response.status_code == 400
    assert "draw" in response.json()


@pytest.mark.django_db
def test_oversized_or_overlong_forms_get_a_4xx_never_a_500(client, nurse):
    client.force_login(nurse)
    big = client.post("/login/", {"username": "x", "password": "y" * 1_200_000})
    assert big.status_code == 413

    many = {f"field{i}": "1" for i in range(600)}
    response = client.post("/login/", many)
    assert 400 <= response.status_code < 500


def test_gunicorn_limits_request_lines_and_headers():
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert conf["limit_request_line"] <= 4094
    assert conf["limit_request_fields"] <= 100
    assert conf["limit_request_field_size"] <= 8190
    # The image copies the tree (tests/test_image.py); this file must be in it.
    from tests.test_image import in_build_context

    assert in_build_context(ROOT / "gunicorn.conf.py"), "the image must ship the limits"

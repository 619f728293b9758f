"""Every route x role x method, generated from the URL configuration.

The routes come from walking `get_resolver()` (includes, namespaces, DRF router routes with
their detail and custom-action routes); the expected answers come from EXPECTATIONS below,
written by hand from SPEC section 1 and accounts/roles.py. A route in the URLconf without
an entry fails `test_every_route_has_an_expectation` and its own matrix case, so a new
endpoint cannot ship without someone deciding who may call it.

Rules the table encodes:
- clinical pages and APIs: nurse and oncologist read (200), admin 403; anonymous users get
  302 to /login/ on pages and 401 on the API; an inactive user is anonymous (302/401).
- the interface role (a laboratory or EHR system) gets 403 on every page and every API
  route there is today, with its token on the API and with a session on pages (it never
  gets one by signing in; a session made any other way is refused); it may sign out its
  own token. It posts reports to /api/v1/imports/, which has its own tests.
- programme metrics (page, CSV, API): aggregates only, read by nurse, oncologist and admin.
- writes: an allowed role gets 200/201/302 (saved) or 400 (validation), never 403; a
  forbidden role gets 403. The nurse may not create or edit patients, treatments or
  assessments, nor resolve an ESR1 alert; she records appointments, draws and results and
  resolves logistics alerts.
- every method the table does not list for a route (DELETE everywhere, PUT, POST/PATCH on
  read-only routes) is refused: 405, 403, 401 or the login redirect. Nothing answers 500.

Excluded from the generated matrix, each tested below on its own: the Django admin's own
URLs (everything `admin.site.urls` includes: the index and one changelist per role are
checked), static files (served by WhiteNoise, not the URLconf) and the health probes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiToken
from accounts.roles import Role
from accounts.services import user_create
from patients.models import Treatment
from surveillance import engine
from surveillance.models import LOGISTICS_KINDS, Alert
from tests.conftest import PASSWORD
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
from tests.tokens import api_token

ANON, INACTIVE, NURSE, ONC, ADMIN = "anonymous", "inactive", "nurse", "oncologist", "admin"
IFACE = "interface"
ROLES = (ANON, INACTIVE, NURSE, ONC, ADMIN, IFACE)
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")

# Expected outcomes besides an exact status code.
LOGIN = "302 to /login/"
WRITE = "allowed write (200/201/302, or 400 validation; never 403)"
REFUSED = "refused (405/403/401 or 302 to /login/)"


# --------------------------------------------------------------------------------------------
# The URLconf, walked
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundRoute:
    key: str  # the namespaced URL name, or the pattern itself when unnamed
    pattern: str
    name: str | None
    params: frozenset[str]


def _params(pattern) -> set[str]:
    return set(pattern.regex.groupindex)


def _is_admin_site(resolver: URLResolver) -> bool:
    return resolver.app_name == "admin"


def walk_urlconf() -> tuple[list[FoundRoute], list[str]]:
    """(routes for the matrix, patterns excluded as Django admin internals)."""
    routes: list[FoundRoute] = []
    admin_internal: list[str] = []

    def walk(patterns, prefix: str, namespace: str, params: set[str]) -> None:
        for entry in patterns:
            pattern = prefix + str(entry.pattern)
            here = params | _params(entry.pattern)
            if isinstance(entry, URLResolver):
                if _is_admin_site(entry):
                    admin_internal.append(pattern)
                elif entry.namespace:
                    walk(entry.url_patterns, pattern, f"{namespace}{entry.namespace}:", here)
                else:
                    walk(entry.url_patterns, pattern, namespace, here)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}{entry.name}" if entry.name else None
                routes.append(FoundRoute(name or pattern, pattern, name, frozenset(here)))

    walk(get_resolver().url_patterns, "", "", set())
    static = settings.STATIC_URL.lstrip("/")
    return [r for r in routes if not r.pattern.startswith(static)], admin_internal


HEALTH_PROBES = {"healthz", "readyz"}


# --------------------------------------------------------------------------------------------
# The world every case runs against
# --------------------------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    tokens: dict
    nurse_token_id: int
    patient: object
    treatment: object
    assessment: object
    appointment: object
    resulted_draw: object
    result: object
    pending_draw: object  # collected, no result yet
    esr1_alert: object
    logistics_alert: object


@pytest.fixture
def world(make_user) -> World:
    users = {
        NURSE: make_user("matrix-nurse", Role.NURSE),
        ONC: make_user("matrix-onc", Role.ONCOLOGIST),
        ADMIN: make_user("matrix-admin", Role.ADMIN),
        # An oncologist whose account was switched off: must count for nothing.
        INACTIVE: make_user("matrix-gone", Role.ONCOLOGIST),
    }
    users[INACTIVE].is_active = False
    users[INACTIVE].save(update_fields=["is_active"])
    users[IFACE] = user_create(username="matrix-lab", role=Role.INTERFACE, password=None)
    tokens = {role: api_token(user) for role, user in users.items()}

    patient = PatientFactory(oncologist=users[ONC])
    treatment = TreatmentFactory(patient=patient, start_date=days(-150))
    assessment = AssessmentFactory(patient=patient, date=days(-30))
    appointment = AppointmentFactory(patient=patient, date=days(40))
    resulted = DrawFactory(patient=patient, status="resulted", collected_on=days(-60))
    result = ResultFactory(draw=resulted, reported_on=days(-50), esr1_status="detected")
    VariantFactory(result=result, vaf_percent=Decimal("0.7"))
    # Collected three weeks ago and still without a result: a result_overdue alert.
    pending = DrawFactory(patient=patient, status="collected", collected_on=days(-21))
    engine.run_for_patients([patient.id])
    open_alerts = Alert.objects.filter(patient=patient, status="open")
    return World(
        users=users,
        tokens=tokens,
        nurse_token_id=ApiToken.objects.get(user=users[NURSE]).pk,
        patient=patient,
        treatment=treatment,
        assessment=assessment,
        appointment=appointment,
        resulted_draw=resulted,
        result=result,
        pending_draw=pending,
        esr1_alert=open_alerts.get(kind="esr1_switch"),
        logistics_alert=open_alerts.filter(kind__in=LOGISTICS_KINDS).order_by("id").first(),
    )


# --------------------------------------------------------------------------------------------
# EXPECTATIONS: by hand, one entry per route (several when the object changes the answer)
# --------------------------------------------------------------------------------------------

Expected = int | str
RoleMap = dict[str, Expected]


@dataclass
class Case:
    label: str = ""
    kwargs: Callable[[World], dict] = lambda w: {}
    methods: dict[str, RoleMap] = field(default_factory=dict)
    bodies: dict[str, Callable[[World], dict]] = field(default_factory=dict)
    # A page under /api/ (the docs) is visited with a browser session, not a token.
    browser: bool = False


def roles(
    anonymous: Expected,
    nurse: Expected,
    oncologist: Expected,
    admin: Expected,
    interface: Expected = 403,
) -> RoleMap:
    # An inactive user always gets what an anonymous one gets.
    return {
        ANON: anonymous, INACTIVE: anonymous, NURSE: nurse, ONC: oncologist, ADMIN: admin,
        IFACE: interface,
    }  # fmt: skip


def page_read(*, nurse=True) -> RoleMap:
    return roles(LOGIN, 200 if nurse else 403, 200, 403)


def page_write(*, nurse: bool) -> RoleMap:
    return roles(LOGIN, WRITE if nurse else 403, WRITE, 403)


API_READ = roles(401, 200, 200, 403)


def api_write(*, nurse: bool) -> RoleMap:
    return roles(401, WRITE if nurse else 403, WRITE, 403)


SIGNED_IN_PAGE = roles(LOGIN, 200, 200, 200)


def iso(offset: int) -> str:
    return days(offset).isoformat()


def patient_form(w: World) -> dict:
    return {
        "mrn": "MX-NEW-1", "given_name": "Nia", "family_name": "Matrix",
        "birth_date": "1968-05-04", "sex": "female", "er_status": "positive",
        "pr_status": "positive", "her2_status": "negative", "metastatic_sites": ["bone"],
        "oncologist": w.users[ONC].username, "status": "active",
    }  # fmt: skip


def past_adjuvant_treatment() -> dict:
    return {
        "line_number": 1, "setting": "adjuvant", "endocrine_therapy": "letrozole",
        "start_date": iso(-3000), "end_date": iso(-1200), "end_reason": "completed",
    }  # fmt: skip


def result_form(w: World) -> dict:
    return {
        "reported_on": iso(0), "status": "final", "comment": "",
        "variants-TOTAL_FORMS": "1", "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "30",
        "variants-0-gene": "ESR1", "variants-0-protein_change": "Y537S",
        "variants-0-vaf_percent": "1.2",
    }  # fmt: skip


DEFER = {"decision": "deferred", "note": "Discuss at the tumour board first."}
DONE = {"decision": "done", "note": ""}

PATIENT = {"patient_id": lambda w: w.patient.id}


def kw(**getters) -> Callable[[World], dict]:
    return lambda w: {name: getter(w) for name, getter in getters.items()}


IMPORT_POST = roles(401, WRITE, WRITE, 403, interface=WRITE)
IMPORT_CSV = (
    "mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent\n"
    "MX-NOBODY,MX-ACC-9,2026-01-05,2026-01-09,final,,,\n"
)


def unmatched_import(w: World):
    """A laboratory message waiting in the inbox (made once per test)."""
    from imports.models import ImportMessage
    from imports.parsers import ParsedMessage, ParsedReport
    from imports.services import import_parsed

    existing = ImportMessage.objects.filter(control_id="MATRIX").first()
    if existing is not None:
        return existing
    report = ParsedReport(
        source_format="hl7v2", report_id="MX-R1", status="final", mrn="MX-NOBODY",
        birth_date=None, accession="MX-ACC-8", collected_on=days(-21), reported_on=days(-1),
        assay="", variants=(),
    )  # fmt: skip
    return import_parsed(
        actor=w.users[IFACE], fmt="hl7v2", text="MSH|^~\\&|MATRIX",
        parsed=ParsedMessage((report,), control_id="MATRIX"),
    )  # fmt: skip


EXPECTATIONS: dict[str, list[Case]] = {
    # --- pages ---------------------------------------------------------------------------
    "home": [Case(methods={"GET": SIGNED_IN_PAGE})],
    "patient-list": [Case(methods={"GET": page_read()})],
    "import-inbox": [Case(methods={"GET": page_read()})],
    "import-upload": [
        Case(
            methods={"GET": page_read(), "POST": page_write(nurse=True)},
            bodies={"POST": lambda w: {"content": IMPORT_CSV, "preview": "1"}},
        )
    ],
    "import-detail": [
        Case(
            kwargs=kw(message_id=lambda w: unmatched_import(w).pk),
            methods={"GET": page_read(), "POST": page_write(nurse=True)},
            bodies={
                "POST": lambda w: {
                    "report": unmatched_import(w).reports.get().pk,
                    "reject": "1",
                    "reason": "Not one of our patients.",
                }
            },
        )
    ],
    "patient-create": [
        Case(
            methods={"GET": page_read(nurse=False), "POST": page_write(nurse=False)},
            bodies={"POST": patient_form},
        )
    ],
    "patient-detail": [Case(kwargs=kw(**PATIENT), methods={"GET": page_read()})],
    "patient-summary": [Case(kwargs=kw(**PATIENT), methods={"GET": page_read()})],
    "patient-edit": [
        Case(
            kwargs=kw(**PATIENT),
            methods={"GET": page_read(nurse=False), "POST": page_write(nurse=False)},
            bodies={"POST": lambda w: {**patient_form(w), "mrn": w.patient.mrn}},
        )
    ],
    "treatment-create": [
        Case(
            kwargs=kw(**PATIENT),
            methods={"GET": page_read(nurse=False), "POST": page_write(nurse=False)},
            bodies={"POST": lambda w: past_adjuvant_treatment()},
        )
    ],
    "treatment-edit": [
        Case(
            kwargs=kw(**PATIENT, treatment_id=lambda w: w.treatment.id),
            methods={"GET": page_read(nurse=False), "POST": page_write(nurse=False)},
            bodies={
                "POST": lambda w: {
                    "line_number": 1,
                    "setting": "metastatic",
                    "endocrine_therapy": "letrozole",
                    "cdk46_inhibitor": "ribociclib",
                    "start_date": w.treatment.start_date.isoformat(),
                }
            },
        )
    ],
    "assessment-create": [
        Case(
            kwargs=kw(**PATIENT),
            methods={"GET": page_read(nurse=False), "POST": page_write(nurse=False)},
            bodies={"POST": lambda w: {"date": iso(-1), "modality": "ct", "response": "SD"}},
        )
    ],
    "appointment-create": [
        Case(
            kwargs=kw(**PATIENT),
            methods={"GET": page_read(), "POST": page_write(nurse=True)},
            bodies={"POST": lambda w: {"date": iso(30), "kind": "clinic"}},
        )
    ],
    "draw-create": [
        Case(
            kwargs=kw(**PATIENT),
            methods={"GET": page_read(), "POST": page_write(nurse=True)},
            bodies={
                "POST": lambda w: {"collected_on": iso(0), "assay": "ddpcr_esr1", "accession": ""}
            },
        )
    ],
    "result-create": [
        Case(
            kwargs=kw(draw_id=lambda w: w.pending_draw.id),
            methods={"GET": page_read(), "POST": page_write(nurse=True)},
            bodies={"POST": result_form},
        )
    ],
    "variant-row": [Case(methods={"GET": page_read()})],
    "alert-resolve": [
        Case(
            label="esr1",
            kwargs=kw(alert_id=lambda w: w.esr1_alert.id),
            methods={"GET": page_read(nurse=False), "POST": page_write(nurse=False)},
            bodies={"POST": lambda w: DEFER},
        ),
        Case(
            label="logistics",
            kwargs=kw(alert_id=lambda w: w.logistics_alert.id),
            methods={"GET": page_read(), "POST": page_write(nurse=True)},
            bodies={"POST": lambda w: DONE},
        ),
    ],
    # Programme metrics: aggregates, so the administrator reads them too (SPEC 1).
    "metrics": [Case(methods={"GET": SIGNED_IN_PAGE})],
    "metrics-export": [Case(methods={"GET": SIGNED_IN_PAGE})],
    # The policy page explains the rules behind the alerts to everyone who signs in.
    "policy": [Case(methods={"GET": SIGNED_IN_PAGE})],
    "policy-version": [Case(kwargs=kw(version=lambda w: 1), methods={"GET": SIGNED_IN_PAGE})],
    # --- signing in and out (accounts/) -------------------------------------------------------
    "login": [
        Case(
            # Django's LoginView: it processes PUT like POST, and with
            # redirect_authenticated_user it sends a signed-in user home whatever the method
            # (nothing is changed or deleted).
            methods={
                "GET": roles(200, 302, 302, 302),
                "POST": roles(200, 302, 302, 302),
                "PUT": roles(200, 302, 302, 302),
                "PATCH": roles(405, 302, 302, 302),
                "DELETE": roles(405, 302, 302, 302),
            },
            bodies={
                "POST": lambda w: {"username": "nobody", "password": "wrong"},
                "PUT": lambda w: {"username": "nobody", "password": "wrong"},
            },
        )
    ],
    # Without a password step in progress everyone is sent back to the password step.
    "login-code": [
        Case(
            methods={
                "GET": roles(LOGIN, LOGIN, LOGIN, LOGIN),
                "POST": roles(LOGIN, LOGIN, LOGIN, LOGIN),
            }
        )
    ],
    "logout": [Case(methods={"POST": roles(LOGIN, LOGIN, LOGIN, LOGIN)})],
    "account-security": [Case(methods={"GET": SIGNED_IN_PAGE})],
    # Only one's own token: the nurse's here, a 404 for everyone else.
    "api-token-revoke": [
        Case(
            kwargs=kw(token_id=lambda w: w.nurse_token_id),
            methods={"POST": roles(LOGIN, WRITE, 404, 404)},
        )
    ],
    "password-change": [
        Case(
            methods={"GET": SIGNED_IN_PAGE, "POST": roles(LOGIN, WRITE, WRITE, WRITE)},
            bodies={
                "POST": lambda w: {
                    "old_password": "not-the-password",
                    "new_password1": "a-new-long-passphrase",
                    "new_password2": "a-new-long-passphrase",
                }
            },
        )
    ],
    "mfa-setup": [
        Case(
            methods={"GET": SIGNED_IN_PAGE, "POST": roles(LOGIN, WRITE, WRITE, WRITE)},
            bodies={"POST": lambda w: {"otp_token": "000000"}},
        )
    ],
    # New backup codes need a verified two-step sign-in; nobody here has an authenticator.
    "mfa-backup-codes": [Case(methods={"POST": roles(LOGIN, 403, 403, 403)})],
    # The admin site's login goes through the same sign-in; clinicians do not use the admin.
    "admin/login/": [Case(methods={"GET": roles(LOGIN, 403, 403, 302)})],
    # --- REST API ------------------------------------------------------------------------------
    "v1:api-token": [
        Case(
            # Each caller asks for a token with its own credentials (see token_body;
            # anonymous: an unknown user; inactive: refused with 400 like a wrong password;
            # interface: it has no password).
            methods={"POST": roles(400, 200, 200, 200, interface=400)},
        )
    ],
    # Signing out revokes the token used: any token holder may.
    "v1:api-logout": [Case(methods={"POST": roles(401, 204, 204, 204, interface=204)})],
    # One's own tokens, people only.
    "v1:api-token-list": [Case(methods={"GET": roles(401, 200, 200, 200)})],
    "v1:api-token-detail": [
        Case(
            kwargs=kw(pk=lambda w: w.nurse_token_id),
            methods={"DELETE": roles(401, 204, 404, 404)},
        )
    ],
    "v1:patient-list": [
        Case(
            methods={"GET": API_READ, "POST": api_write(nurse=False)},
            bodies={"POST": patient_form},
        )
    ],
    "v1:patient-detail": [
        Case(
            kwargs=kw(pk=lambda w: w.patient.id),
            methods={"GET": API_READ, "PATCH": api_write(nurse=False)},
            bodies={"PATCH": lambda w: {"high_tumour_burden": True}},
        )
    ],
    "v1:patient-timeline": [Case(kwargs=kw(pk=lambda w: w.patient.id), methods={"GET": API_READ})],
    "v1:treatment-list": [
        Case(
            methods={"GET": API_READ, "POST": api_write(nurse=False)},
            bodies={"POST": lambda w: {"patient": w.patient.id, **past_adjuvant_treatment()}},
        )
    ],
    "v1:treatment-detail": [
        Case(
            kwargs=kw(pk=lambda w: w.treatment.id),
            methods={"GET": API_READ, "PATCH": api_write(nurse=False)},
            bodies={"PATCH": lambda w: {"cdk46_inhibitor": "ribociclib"}},
        )
    ],
    "v1:assessment-list": [
        Case(
            methods={"GET": API_READ, "POST": api_write(nurse=False)},
            bodies={
                "POST": lambda w: {
                    "patient": w.patient.id,
                    "date": iso(-2),
                    "modality": "ct",
                    "response": "SD",
                }
            },
        )
    ],
    "v1:assessment-detail": [
        Case(
            kwargs=kw(pk=lambda w: w.assessment.id),
            methods={"GET": API_READ, "PATCH": api_write(nurse=False)},
            bodies={"PATCH": lambda w: {"response": "PR"}},
        )
    ],
    "v1:appointment-list": [
        Case(
            methods={"GET": API_READ, "POST": api_write(nurse=True)},
            bodies={
                "POST": lambda w: {"patient": w.patient.id, "date": iso(30), "kind": "imaging"}
            },
        )
    ],
    "v1:appointment-detail": [
        Case(
            kwargs=kw(pk=lambda w: w.appointment.id),
            methods={"GET": API_READ, "PATCH": api_write(nurse=True)},
            bodies={"PATCH": lambda w: {"kind": "imaging"}},
        )
    ],
    "v1:draw-list": [
        Case(
            methods={"GET": API_READ, "POST": api_write(nurse=True)},
            bodies={
                "POST": lambda w: {
                    "patient": w.patient.id,
                    "collected_on": iso(0),
                    "assay": "guardant360_cdx",
                    "accession": "MX-ACC-1",
                }
            },
        )
    ],
    "v1:draw-detail": [Case(kwargs=kw(pk=lambda w: w.resulted_draw.id), methods={"GET": API_READ})],
    "v1:draw-cancel": [
        Case(
            kwargs=kw(pk=lambda w: w.pending_draw.id),
            methods={"POST": api_write(nurse=True)},
            bodies={"POST": lambda w: {"reason": "Sample recorded against the wrong patient."}},
        )
    ],
    "v1:result-list": [
        Case(
            methods={"GET": API_READ, "POST": api_write(nurse=True)},
            bodies={
                "POST": lambda w: {
                    "draw": w.pending_draw.id,
                    "reported_on": iso(0),
                    "status": "final",
                    "variants": [
                        {"gene": "ESR1", "protein_change": "p.Tyr537Ser", "vaf_percent": "0.9"}
                    ],
                }
            },
        )
    ],
    "v1:result-detail": [Case(kwargs=kw(pk=lambda w: w.result.id), methods={"GET": API_READ})],
    "v1:alert-list": [Case(methods={"GET": API_READ})],
    "v1:alert-detail": [Case(kwargs=kw(pk=lambda w: w.esr1_alert.id), methods={"GET": API_READ})],
    "v1:alert-resolve": [
        Case(
            label="esr1",
            kwargs=kw(pk=lambda w: w.esr1_alert.id),
            methods={"POST": api_write(nurse=False)},
            bodies={"POST": lambda w: DEFER},
        ),
        Case(
            label="logistics",
            kwargs=kw(pk=lambda w: w.logistics_alert.id),
            methods={"POST": api_write(nurse=True)},
            bodies={"POST": lambda w: DONE},
        ),
    ],
    "v1:worklist": [Case(methods={"GET": API_READ})],
    "v1:metrics": [Case(methods={"GET": roles(401, 200, 200, 200)})],
    # Who read which record: administrators only (the audit, not the records themselves).
    "v1:access-log": [Case(methods={"GET": roles(401, 403, 403, 200)})],
    # Laboratory imports: interface accounts post (an empty body is a 400, unreadable);
    # clinicians read what arrived and settle the inbox.
    "v1:import-fhir": [Case(methods={"POST": IMPORT_POST}, bodies={"POST": lambda w: {}})],
    "v1:import-hl7v2": [Case(methods={"POST": IMPORT_POST}, bodies={"POST": lambda w: {}})],
    "v1:import-csv": [Case(methods={"POST": IMPORT_POST}, bodies={"POST": lambda w: {}})],
    "v1:import-list": [Case(methods={"GET": API_READ})],
    "v1:import-detail": [
        Case(kwargs=kw(pk=lambda w: unmatched_import(w).pk), methods={"GET": API_READ})
    ],
    "v1:import-match": [
        Case(
            kwargs=kw(pk=lambda w: unmatched_import(w).pk),
            methods={"POST": api_write(nurse=True)},
            bodies={"POST": lambda w: {"patient": w.patient.id, "draw": w.pending_draw.id}},
        )
    ],
    "v1:import-reject": [
        Case(
            kwargs=kw(pk=lambda w: unmatched_import(w).pk),
            methods={"POST": api_write(nurse=True)},
            bodies={"POST": lambda w: {"reason": "Not one of our patients."}},
        )
    ],
    # The schema and its docs page are for signed-in users (SPEC 1: anonymous users get the
    # login page, the probes and static files only); neither holds clinical data.
    "schema": [Case(methods={"GET": roles(401, 200, 200, 200)})],
    "api-docs": [Case(methods={"GET": SIGNED_IN_PAGE}, browser=True)],
}


# --------------------------------------------------------------------------------------------
# Running one case
# --------------------------------------------------------------------------------------------


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].split("?")[0] == "/login/"


def outcome_ok(expected: Expected, response) -> bool:
    status = response.status_code
    if expected == LOGIN:
        return _is_login_redirect(response)
    if expected == WRITE:
        return status in (200, 201, 400) or (status == 302 and not _is_login_redirect(response))
    if expected == REFUSED:
        return status in (401, 403, 405) or _is_login_redirect(response)
    return status == expected


# One request handler for every client here: a fresh handler loads the middleware again,
# and WhiteNoise's scan of the static files costs ~0.1 s each time.
_HANDLER = Client().handler


def client_for(role: str, world: World, *, api: bool) -> Client:
    client = Client()
    client.handler = _HANDLER
    if role == ANON:
        return client
    if api:
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {world.tokens[role]}"
    else:
        client.force_login(world.users[role])
    return client


def request(client: Client, method: str, path: str, body, *, api: bool):
    if method == "GET":
        return client.get(path)
    if api:
        return client.generic(
            method,
            path,
            data=b"" if body is None else json.dumps(body),
            content_type="application/json",
        )
    if method == "POST":
        return client.post(path, body or {})
    # Pages are forms: anything else goes form-encoded too.
    return client.generic(
        method,
        path,
        data=urlencode(body or {}, doseq=True),
        content_type="application/x-www-form-urlencoded",
    )


def _path(route: FoundRoute, kwargs: dict) -> str:
    if route.name:
        return reverse(route.name, kwargs=kwargs)
    assert not route.params, f"unnamed route {route.pattern} with parameters: give it a name"
    return "/" + route.pattern


def token_body(role: str, world: World) -> dict:
    if role == ANON:
        return {"username": "nobody", "password": PASSWORD}
    return {"username": world.users[role].username, "password": PASSWORD}


def run_case(route: FoundRoute, case: Case, world: World) -> tuple[list[str], int]:
    kwargs = case.kwargs(world)
    assert set(kwargs) == set(route.params), (
        f"{route.key}: EXPECTATIONS gives {sorted(kwargs)}, the route takes {sorted(route.params)}"
    )
    path = _path(route, kwargs)
    api = path.startswith("/api/") and not case.browser
    problems: list[str] = []
    checked = 0
    for role in ROLES:
        for method in METHODS:
            expected = case.methods.get(method, {}).get(role, REFUSED)
            if route.key == "v1:api-token" and method == "POST":
                body = token_body(role, world)
            else:
                make_body = case.bodies.get(method)
                body = make_body(world) if make_body else {}
            # Each role and method starts from the same world: what one write changed is
            # rolled back before the next request.
            with transaction.atomic():
                response = request(client_for(role, world, api=api), method, path, body, api=api)
                transaction.set_rollback(True)
            checked += 1
            if not outcome_ok(expected, response):
                location = response.get("Location", "")
                problems.append(
                    f"{method} {path} as {role}: expected {expected}, got "
                    f"{response.status_code}{' -> ' + location if location else ''}"
                )
    return problems, checked


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------

ROUTES, ADMIN_INTERNAL = walk_urlconf()
MATRIX_ROUTES = [r for r in ROUTES if r.key not in HEALTH_PROBES]


def _matrix_params():
    for route in MATRIX_ROUTES:
        cases = EXPECTATIONS.get(route.key)
        if not cases:
            yield pytest.param(route, None, id=f"{route.key}-NO-EXPECTATION")
            continue
        for case in cases:
            label = f"[{case.label}]" if case.label else ""
            yield pytest.param(route, case, id=f"{route.key}{label}")


def _concrete_routes() -> int:
    return sum(len(EXPECTATIONS.get(r.key) or [None]) for r in MATRIX_ROUTES)


def test_every_route_has_an_expectation(capsys):
    keys = {r.key for r in MATRIX_ROUTES}
    missing = sorted(keys - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - keys)
    concrete = _concrete_routes()
    with capsys.disabled():
        print(
            f"\npermission matrix: {concrete} routes x {len(ROLES)} roles x {len(METHODS)} "
            f"methods = {concrete * len(ROLES) * len(METHODS)} requests "
            f"({len(keys)} URL patterns; {len(ADMIN_INTERNAL)} admin-site include(s) and "
            f"{len(HEALTH_PROBES)} health probes tested separately)"
        )
    assert not missing, (
        f"routes with no entry in EXPECTATIONS (decide who may call them): {missing}"
    )
    assert not stale, f"EXPECTATIONS entries for routes that no longer exist: {stale}"
    assert ADMIN_INTERNAL == ["admin/"], ADMIN_INTERNAL


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "case"), list(_matrix_params()))
def test_permission_matrix(route, case, world):
    assert case is not None, (
        f"{route.pattern} (name {route.name!r}) is in the URLconf but not in EXPECTATIONS; "
        "add who may call it"
    )
    problems, checked = run_case(route, case, world)
    assert checked == len(ROLES) * len(METHODS)
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in MATRIX_ROUTES if r.params], ids=lambda r: r.key)
def test_unknown_ids_are_404_for_clinicians(route, world):
    # Router routes take any text as the id ([^/.]+): a word must be a 404 too, not a 500.
    bad_ids = [987654321, "x1"] if route.params == {"pk"} else [987654321]
    for bad_id in bad_ids:
        path = _path(route, dict.fromkeys(route.params, bad_id))
        api = path.startswith("/api/")
        for role in (NURSE, ONC):
            methods = {
                m for case in EXPECTATIONS[route.key] for m, by_role in case.methods.items()
                if by_role.get(role) in (200, WRITE)
            }  # fmt: skip
            for method in sorted(methods):
                with transaction.atomic():
                    client = client_for(role, world, api=api)
                    response = request(client, method, path, {}, api=api)
                    transaction.set_rollback(True)
                assert response.status_code == 404, f"{method} {path} as {role}"


@pytest.mark.django_db
@pytest.mark.parametrize("probe", sorted(HEALTH_PROBES))
def test_health_probes_answer_everyone(probe, world):
    assert probe in {r.key for r in ROUTES}
    for role in ROLES:
        response = client_for(role, world, api=False).get(reverse(probe))
        assert response.status_code == 200, (probe, role, response.content)
        assert response.get("Location") is None
    for method in ("POST", "DELETE"):
        assert Client().generic(method, reverse(probe)).status_code == 405


ADMIN_PAGES = [
    "/admin/",
    "/admin/accounts/user/",
    "/admin/surveillance/assayprofile/",
    # The audit viewer and its exports: the change history, the access log, and the log of
    # who read those two.
    "/admin/pghistory/events/",
    "/admin/pghistory/events/export.csv",
    "/admin/patients/patientaccess/",
    "/admin/patients/patientaccess/export.csv",
    "/admin/patients/audittrailread/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_site_is_for_the_admin_role_only(url, world):
    for role in ROLES:
        response = client_for(role, world, api=False).get(url)
        if role == ADMIN:
            assert response.status_code == 200, url
        else:
            # Not staff: the admin sends everyone else to its login, which sends anonymous
            # users on to the sign-in page and refuses signed-in clinicians.
            assert response.status_code in (302, 403), (url, role, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/admin/login/"), (url, role)
    for role in (ANON, NURSE, ONC):
        response = client_for(role, world, api=False).delete(url)
        assert response.status_code in (302, 403, 405), (url, role)


@pytest.mark.django_db
def test_admin_cannot_reach_clinical_records_in_the_admin(world):
    client = client_for(ADMIN, world, api=False)
    for url in ("/admin/patients/patient/", f"/admin/patients/patient/{world.patient.id}/change/"):
        assert client.get(url).status_code in (403, 404), url


@pytest.mark.django_db
def test_fixture_has_what_the_matrix_needs(world):
    assert world.esr1_alert.kind == "esr1_switch"
    assert world.logistics_alert is not None and world.logistics_alert.kind in LOGISTICS_KINDS
    assert world.pending_draw.status == "collected"
    assert Treatment.objects.filter(patient=world.patient).count() == 1

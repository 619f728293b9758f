"""`GET /api/v1/metrics/`: the documented keys, the selector's figures, who may read them,
what input is refused, and that no patient can be recognised in the answer."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command

from accounts.roles import Role
from programme.api import ProgrammeMetricsSerializer, render_answer
from programme.forms import default_start
from programme.selectors import programme_metrics
from surveillance import engine, services
from surveillance.models import Alert, Draw
from surveillance.services import alert_resolve
from tests.factories import TODAY, PatientFactory, TreatmentFactory, days
from tests.programme.cohort import A, B, build_clinic
from tests.tokens import api_token

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/"
FIGURES = {
    "monitored", "draws_due", "draws_on_time_pct", "draws_on_time_pct_n",
    "turnaround_days_median", "turnaround_days_median_n", "turnaround_days_p90",
    "turnaround_days_p90_n", "turnaround_within_14_pct", "turnaround_within_14_pct_n",
    "failed_pct", "failed_pct_n", "result_to_alert_minutes_median",
    "result_to_alert_minutes_median_n", "esr1_detected", "detected_before_progression_pct",
    "detected_before_progression_pct_n", "detection_to_decision_days_median",
    "detection_to_decision_days_median_n", "switched", "decision_to_switch_days_median",
    "decision_to_switch_days_median_n", "decisions",
}  # fmt: skip
TOP_LEVEL = FIGURES | {"from", "to", "funnel", "by_month", "by_oncologist"}


@pytest.fixture
def clinic():
    return build_clinic()


def period(start=A, end=TODAY) -> dict:
    return {"from": start.isoformat(), "to": end.isoformat()}


def test_answer_has_exactly_the_documented_keys_and_the_hand_counted_figures(client, clinic):
    client.force_login(clinic.north)
    response = client.get(URL, period())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOP_LEVEL
    assert (body["from"], body["to"]) == (A.isoformat(), TODAY.isoformat())
    # A few of the figures test_metrics.py counts by hand, as JSON.
    assert body["monitored"] == 10 and body["draws_due"] == 7
    assert body["draws_on_time_pct"] == 71.4 and body["draws_on_time_pct_n"] == 7
    assert body["turnaround_days_p90"] == 11.4 and body["failed_pct"] == 11.1
    assert body["detected_before_progression_pct"] is None
    assert body["detected_before_progression_pct_n"] == 3
    assert body["decisions"] == {"switched": 1, "repeat_test": 0, "deferred": 1, "dismissed": 1}
    assert body["funnel"] == {"monitored": 10, "tested": 9, "esr1_detected": 3, "switched": 1}
    assert [row["month"] for row in body["by_month"]] == [
        f"{A:%Y-%m}", f"{B:%Y-%m}", f"{TODAY:%Y-%m}",
    ]  # fmt: skip
    for row in body["by_month"]:
        assert set(row) == FIGURES | {"month", "from", "to"}
    assert body["by_month"][0]["draws_on_time_pct"] == 60.0
    assert [(r["oncologist"], r["name"]) for r in body["by_oncologist"]] == [
        ("dr.north", "Nora North"), ("dr.south", "Sam South"),
    ]  # fmt: skip
    for row in body["by_oncologist"]:
        assert set(row) == FIGURES | {"oncologist", "name"}


@pytest.mark.parametrize("role", [Role.ONCOLOGIST, Role.NURSE, Role.ADMIN])
def test_oncologists_nurses_and_administrators_may_read_it_with_a_token(client, make_user, role):
    user = make_user(f"reader-{role}", role)
    response = client.get(URL, HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    assert response.status_code == 200, response.content


def test_anonymous_callers_are_refused(client):
    assert client.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "03/01/2026"}, "from"),  # only YYYY-MM-DD
        ({"from": "2026-05-01", "to": "2026-04-30"}, "to"),
        ({"from": "2010-01-01", "to": "2026-01-01"}, "from"),  # more than ten years
        ({"from": "2026-01-01\x00"}, "from"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "from"),
    ],
)
def test_bad_periods_are_400_naming_the_field(client, nurse, query, field):
    client.force_login(nurse)
    response = client.get(URL, query)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


def test_without_dates_the_period_is_the_last_twelve_calendar_months(client, nurse):
    client.force_login(nurse)
    body = client.get(URL).json()
    assert body["from"] == default_start(TODAY).isoformat()
    assert body["to"] == TODAY.isoformat()
    assert len(body["by_month"]) == 12
    # Without `from`, twelve months up to `to`.
    body = client.get(URL, {"to": B.isoformat()}).json()
    assert body["from"] == default_start(B).isoformat() and len(body["by_month"]) == 12


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_no_patient_can_be_recognised_in_the_answer(client, clinic, admin_user):
    client.force_login(admin_user)
    text = client.get(URL, period()).content.decode()
    for word in clinic.identifying_words():
        assert word not in text, word
    keys = _keys(json.loads(text))
    assert not {k for k in keys if "patient" in k or k in ("mrn", "birth_date", "id")}
    # Patients' row ids neither: no figure list is long enough to carry them.
    assert len(json.loads(text)["by_oncologist"]) == 2


def test_the_answer_is_what_its_documented_serializer_renders(client, clinic, nurse):
    # The view renders the figures without the serializers' per-field machinery: the same
    # keys in the same order, the same values and nulls, months and oncologists included.
    metrics = programme_metrics(start=A, end=TODAY)
    expected = json.dumps(ProgrammeMetricsSerializer(metrics).data)
    assert json.dumps(render_answer(metrics)) == expected
    client.force_login(nurse)
    assert json.dumps(client.get(URL, period()).json()) == expected
    assert '"oncologist": "dr.north"' in expected and '"month": ' in expected


def test_query_count_is_fixed(client, clinic, nurse, django_assert_max_num_queries):
    client.force_login(nurse)
    client.get(URL, period())  # warm the session
    # The session and the user; the figures' six statements; the session's idle-logoff
    # timestamp saved (savepoint, update, release).
    with django_assert_max_num_queries(11):
        assert client.get(URL, period(TODAY - timedelta(days=3000), TODAY)).status_code == 200


def test_figures_follow_what_the_engine_and_the_services_record(
    client, oncologist, nurse, django_capture_on_commit_callbacks
):
    """The shapes the metrics read are the ones the product writes: the engine's planned
    draw fulfilled by a recorded draw (due date kept), its ESR1 alert with the result in its
    evidence, and a switch decided through the decision service; the figures follow each
    change once the engine has evaluated the patient."""
    patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-100))
    TreatmentFactory(patient=patient, start_date=days(-100))
    engine.run_for_patients([patient.id])
    due = Draw.objects.get(patient=patient, status="planned").due_date
    assert due == days(-44)  # start + 56
    draw = services.draw_record(
        actor=nurse, patient=patient, collected_on=days(-40), assay="guardant360_cdx"
    )
    assert draw.due_date == due
    services.result_record(
        actor=nurse, draw=draw, reported_on=days(-30), status="final",
        variants=[{"gene": "ESR1", "protein_change": "D538G", "vaf_percent": "0.6"}],
    )  # fmt: skip
    engine.run_for_patients([patient.id])
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    with django_capture_on_commit_callbacks(execute=False):
        alert_resolve(
            actor=oncologist, alert=alert, decision="switched", switch_date=TODAY,
            new_endocrine_therapy="camizestrant", evidence_version=alert.evidence_version,
            note="Scan booked for next week; switching now on the ctDNA finding.",
        )  # fmt: skip
    # The decision marked the patient; the engine's evaluation that follows every change
    # (here the sweep of the marks) brings the figures up to date.
    engine.run_marked()

    client.force_login(oncologist)
    body = client.get(URL, period(days(-60), TODAY)).json()
    assert (body["draws_due"], body["draws_on_time_pct_n"]) == (1, 1)
    assert body["turnaround_days_median_n"] == 1 and body["failed_pct_n"] == 1
    assert body["esr1_detected"] == 1 and body["detected_before_progression_pct_n"] == 1
    assert body["result_to_alert_minutes_median_n"] == 1
    assert body["switched"] == 1 and body["decision_to_switch_days_median_n"] == 1
    assert body["detection_to_decision_days_median_n"] == 1
    assert body["funnel"] == {"monitored": 1, "tested": 1, "esr1_detected": 1, "switched": 1}


def test_the_schema_documents_the_endpoint_and_its_answer(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/metrics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to"}
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == TOP_LEVEL
    assert set(component["required"]) == TOP_LEVEL
    assert component["properties"]["draws_on_time_pct"]["nullable"] is True

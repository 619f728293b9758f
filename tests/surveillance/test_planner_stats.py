"""Neither a fresh cohort nor a large run leaves the next run planning on stale statistics."""

from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection

from config import dbroles
from patients.models import Patient
from surveillance import engine, planner_stats, tasks
from surveillance.models import Alert, Draw
from tests.factories import PatientFactory

AS_OF = date(2026, 6, 15)


def estimated_rows(table: str) -> float:
    """What the planner believes the table holds (-1: never analysed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_seed_cohort_leaves_its_tables_analysed():
    call_command("seed_cohort", patients=300, seed=3, as_of=AS_OF.isoformat(), verbosity=0)
    assert estimated_rows("patients_patient") == Patient.objects.count()
    assert estimated_rows("surveillance_draw") == Draw.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_run_that_changed_a_large_share_of_a_table_analyses_it(monkeypatch):
    call_command("seed_cohort", patients=300, seed=3, as_of=AS_OF.isoformat(), verbosity=0)
    before = estimated_rows("surveillance_alert")
    # A "large" run at this size: more than 100 patients, and a table changed by 50 rows counts.
    monkeypatch.setattr(engine, "LARGE_RUN_PATIENTS", 100)
    monkeypatch.setattr(planner_stats, "FLOOR", 50)
    ids = list(Patient.objects.values_list("id", flat=True))
    stats = engine.run_for_patients(ids, today=AS_OF)
    assert stats.opened > 50
    assert before <= 0
    assert estimated_rows("surveillance_alert") == Alert.objects.count()
    # Nothing changed since: nothing left to analyse.
    assert planner_stats.stale_tables(["surveillance_alert"]) == []


@pytest.fixture
def as_app():
    """The default connection as the running application makes it (its own restricted role,
    which owns no table); the owner again after."""
    dbroles.connect_as_app()
    yield
    dbroles.connect_as_owner()


@pytest.mark.django_db(transaction=True)
def test_the_application_role_analyses_what_its_run_changed(monkeypatch, as_app):
    call_command("seed_cohort", patients=300, seed=3, as_of=AS_OF.isoformat(), verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == dbroles.settings.DATABASE_ROLES["app_role"]
    assert estimated_rows("patients_patient") == Patient.objects.count()
    before = estimated_rows("surveillance_alert")
    monkeypatch.setattr(engine, "LARGE_RUN_PATIENTS", 100)
    monkeypatch.setattr(planner_stats, "FLOOR", 50)
    ids = list(Patient.objects.values_list("id", flat=True))
    assert engine.run_for_patients(ids, today=AS_OF).opened > 50
    assert before <= 0
    assert estimated_rows("surveillance_alert") == Alert.objects.count()
    assert planner_stats.stale_tables(["surveillance_alert"]) == []


@pytest.mark.django_db(transaction=True)
def test_a_small_run_does_not_analyse(monkeypatch):
    call_command("seed_cohort", patients=300, seed=3, as_of=AS_OF.isoformat(), verbosity=0)
    ids = list(Patient.objects.values_list("id", flat=True))
    engine.run_for_patients(ids[:50], today=AS_OF)
    assert estimated_rows("surveillance_alert") <= 0


@pytest.mark.django_db(transaction=True)
def test_the_minute_sweep_analyses_what_small_runs_left_stale(monkeypatch):
    call_command("seed_cohort", patients=300, seed=3, as_of=AS_OF.isoformat(), verbosity=0)
    monkeypatch.setattr(planner_stats, "FLOOR", 50)
    ids = list(Patient.objects.values_list("id", flat=True))
    assert engine.run_for_patients(ids, today=AS_OF).opened > 50  # not large: no refresh
    assert estimated_rows("surveillance_alert") <= 0
    tasks.sweep_marked()
    assert estimated_rows("surveillance_alert") == Alert.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_database_not_migrated_since_the_function_came_is_analysed_as_before(caplog):
    PatientFactory.create_batch(7)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION {dbroles.ANALYZE_FUNCTION}(text[])")
    try:
        planner_stats.analyze(["patients_patient"])  # the suite's connection is the owner's
        assert estimated_rows("patients_patient") == 7
        assert "is missing (run migrate)" in caplog.text
    finally:
        dbroles.grant_app_role()


def estimated_planned_draws() -> float:
    """The planner's estimate of the planned draws (what the nurses' draw lists read)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (FORMAT JSON) SELECT * FROM surveillance_draw WHERE status = 'planned'"
        )
        return cursor.fetchone()[0][0]["Plan"]["Plan Rows"]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_fills_a_partial_index_analyses_its_table(monkeypatch):
    """The first run plans a draw for every eligible patient: a few per cent of the draws
    table, less than autovacuum waits for, but a subset the planner believed empty."""
    call_command("seed_cohort", patients=1000, seed=3, as_of=AS_OF.isoformat(), verbosity=0)
    assert estimated_planned_draws() <= 1
    monkeypatch.setattr(engine, "LARGE_RUN_PATIENTS", 100)  # a large run at this size
    monkeypatch.setattr(planner_stats, "FLOOR", 50)
    monkeypatch.setattr(planner_stats, "INDEX_PAGES", 0)
    ids = list(Patient.objects.values_list("id", flat=True))

    engine.run_for_patients(ids, today=AS_OF)

    planned = Draw.objects.filter(status="planned").count()
    assert planned < 0.1 * Draw.objects.count()  # not a large share of the table
    assert abs(estimated_planned_draws() - planned) < 0.2 * planned
    assert planner_stats.stale_tables(["surveillance_draw"]) == []

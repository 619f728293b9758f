"""seed_cohort: deterministic, realistic enough to exercise the rules, and valid data.

Most tests share one cohort, seed_cohort(300, 5), loaded and committed once for the module
(`committed_cohort`); each runs in its own transaction on top of it, rolled back after it,
so what a test adds, deletes or replaces is gone for the next one. The module's end flushes
the database, as the end of a transactional test does.
"""

import hashlib
import json
import threading
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.db.models import Count, Prefetch

from accounts.models import User
from accounts.services import sync_role_groups
from patients.models import Appointment, Assessment, Patient, PatientAccess, Treatment
from surveillance import engine, rules
from surveillance.models import Alert, Draw, Result, SurveillanceState, Variant
from surveillance.rules_input import patient_input
from surveillance.variants import parse_protein_change
from tests.conftest import load_reference_data

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 15)
SYN = r"^SYN[0-9]{7}$"
# The test database may hold other tests' rows (a shared --reuse-db database), so every
# query below is scoped to the synthetic cohort.


def patients():
    return Patient.objects.filter(mrn__regex=SYN)


def of_cohort(model, path="patient__"):
    return model.objects.filter(**{f"{path}mrn__regex": SYN})


def seed(patients: int, seed: int, **options) -> None:
    call_command(
        "seed_cohort", patients=patients, seed=seed, as_of=AS_OF.isoformat(), verbosity=0,
        **options,
    )  # fmt: skip


def cohort_digest() -> str:
    """Every generated column, keyed by MRN and natural order instead of database ids."""
    rows = [
        *patients().order_by("mrn").values_list(
            "mrn", "given_name", "family_name", "birth_date", "sex", "er_status", "pr_status",
            "her2_status", "metastatic_diagnosis_date", "metastatic_sites", "prior_adjuvant_ai",
            "high_tumour_burden", "oncologist__username", "status", "enrolled_on",
        ),
        *of_cohort(Treatment).order_by("patient__mrn", "setting", "start_date").values_list(
            "patient__mrn", "line_number", "setting", "endocrine_therapy_id",
            "cdk46_inhibitor_id", "start_date", "end_date", "end_reason",
        ),
        *of_cohort(Assessment).order_by("patient__mrn", "date").values_list(
            "patient__mrn", "date", "modality", "response"
        ),
        *of_cohort(Appointment).order_by("patient__mrn", "date", "kind").values_list(
            "patient__mrn", "date", "kind"
        ),
        *of_cohort(Draw).order_by("accession").values_list(
            "accession", "patient__mrn", "status", "collected_on", "assay", "cancel_reason"
        ),
        *of_cohort(Result, "draw__patient__").order_by("draw__accession").values_list(
            "draw__accession", "reported_on", "status", "esr1_status"
        ),
        *of_cohort(Variant, "result__draw__patient__")
        .order_by("result__draw__accession", "gene", "protein_change")
        .values_list(
            "result__draw__accession", "gene", "protein_change", "short", "vaf_percent",
            "esr1_activating", "esr1_vus",
        ),
    ]  # fmt: skip
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.fixture(scope="module")
def committed_cohort(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        load_reference_data()  # a transactional test before may have flushed it
        # replace: a run stopped before its flush left one. The audited load and replace
        # are test_replace_removes_what_the_engine_added's.
        seed(300, 5, replace=True, no_audit=True)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)
        # What migrations loaded, for the tests of other modules that run next.
        load_reference_data()
        sync_role_groups()


@pytest.fixture
def cohort(committed_cohort, db):
    """seed_cohort(300, 5), for this test alone (its transaction is rolled back)."""


# seed_cohort(60, 3) as of AS_OF. Benchmarks compare versions of the engine on the same
# data, so a seed gives the same rows from one version to the next; change this only with a
# change to the synthetic cohort made on purpose.
SEED_3_DIGEST = "34cd45efefa41061e0243fd01d0381f39459a933dcd95c31db10ba0efe1ab19f"


def test_same_patients_and_seed_give_identical_rows(cohort):
    seed(60, 3, replace=True, no_audit=True)
    first = cohort_digest()
    assert first == SEED_3_DIGEST, "seed 3 no longer gives the rows it gave"
    first_ids = set(patients().values_list("id", flat=True))

    with pytest.raises(CommandError, match="--replace"):
        seed(60, 3)
    seed(60, 3, replace=True, no_audit=True)

    assert patients().count() == 60
    assert not first_ids & set(patients().values_list("id", flat=True)), "not replaced"
    assert cohort_digest() == first

    seed(60, 4, replace=True, no_audit=True)
    assert cohort_digest() != first


def test_replace_removes_what_the_engine_added(cohort):
    engine.run_for_patients(patients().values_list("id", flat=True), today=AS_OF)
    assert of_cohort(Alert).exists() and of_cohort(Draw).filter(status="planned").exists()
    seed(20, 2, replace=True)
    assert patients().count() == 20
    assert not of_cohort(Alert).exists()
    assert not of_cohort(Draw).filter(status="planned").exists()


def test_proportions_are_plausible(cohort):
    n = patients().count()
    assert n == 300

    results = of_cohort(Result, "draw__patient__")
    esr1_patients = results.filter(esr1_status="detected").values("draw__patient").distinct()
    assert 0.15 * n <= esr1_patients.count() <= 0.5 * n
    failed = results.filter(status="failed").count()
    assert 0.02 * results.count() <= failed <= 0.1 * results.count()
    progressed = of_cohort(Assessment).filter(response="PD").values("patient").distinct()
    assert progressed.count() >= 0.1 * n
    draws = of_cohort(Draw)
    assert draws.filter(status="collected").exists(), "no draw waiting for its result"
    assert not draws.filter(status="planned").exists(), "planning is the engine's job"
    treatments = of_cohort(Treatment)
    assert treatments.filter(line_number=2).exists()
    assert treatments.filter(end_reason="esr1_switch").exists()
    assert treatments.filter(endocrine_therapy__drug_class="serd").exists()

    active = patients().filter(status="active")
    with_appointment = active.filter(appointments__date__gte=AS_OF).distinct().count()
    assert with_appointment >= 0.7 * active.count()
    assert patients().exclude(status="active").exists()

    for field, low, high in (("prior_adjuvant_ai", 0.25, 0.45), ("high_tumour_burden", 0.12, 0.3)):
        share = patients().filter(**{field: True}).count() / n
        assert low <= share <= high, field
    visceral = patients().filter(
        metastatic_sites__overlap=["liver", "lung", "pleura", "peritoneum", "brain"]
    )
    assert 0.4 * n <= visceral.count() <= 0.6 * n

    by_short = dict(
        of_cohort(Variant, "result__draw__patient__")
        .filter(esr1_activating=True)
        .values_list("short")
        .annotate(n=Count("id"))
        .order_by()
    )
    assert by_short["D538G"] + by_short["Y537S"] >= 0.5 * sum(by_short.values())


def test_variants_are_stored_normalised_and_results_agree(cohort):
    variants = of_cohort(Variant, "result__draw__patient__")
    for gene, canonical, short, activating, vus in variants.values_list(
        "gene", "protein_change", "short", "esr1_activating", "esr1_vus"
    ).distinct():
        assert parse_protein_change(short).canonical == canonical
        assert activating == (gene == "ESR1" and not vus)
    detected = set(variants.filter(esr1_activating=True).values_list("result_id", flat=True))
    results = of_cohort(Result, "draw__patient__")
    assert detected == set(results.filter(esr1_status="detected").values_list("id", flat=True))
    assert not variants.filter(result__status="failed").exists()
    assert variants.filter(esr1_activating=True, vaf_percent__lt=1).exists()


def test_oncologists_are_created_round_robin_without_passwords(cohort):
    oncologists = User.objects.filter(username__startswith="cohort.onc").order_by("username")
    assert [u.username for u in oncologists] == ["cohort.onc001", "cohort.onc002", "cohort.onc003"]
    for user in oncologists:
        assert user.role == "oncologist" and not user.has_usable_password()
        assert user.groups.filter(name="oncologist").exists()
    counts = patients().values("oncologist").annotate(n=Count("id")).values_list("n", flat=True)
    assert sorted(counts) == [100, 100, 100]


def test_engine_runs_on_the_cohort_and_raises_switch_alerts(cohort):
    ids = list(patients().values_list("id", flat=True))
    first = engine.run_for_patients(ids, today=AS_OF)
    assert first.evaluated == 300
    assert 0.3 * 300 <= first.eligible <= 0.8 * 300
    assert first.planned == first.eligible
    alerts = of_cohort(Alert)
    assert alerts.filter(kind="esr1_switch").count() >= 5
    assert alerts.filter(kind__in=["draw_due", "draw_overdue"]).exists()
    second = engine.run_for_patients(ids, today=AS_OF)
    assert (second.opened, second.resolved, second.updated) == (0, 0, 0)


@pytest.mark.parametrize("seed_value", [11, 12, 13])
def test_other_seeds_load_within_every_constraint(seed_value, cohort):
    # A violated check, exclusion or unique constraint would raise during the COPY.
    seed(250, seed_value, replace=True, no_audit=True)
    assert patients().count() == 250
    periods: dict[int, list] = {}
    for patient_id, start, end in (
        of_cohort(Treatment).filter(setting="metastatic").values_list(
            "patient_id", "start_date", "end_date"
        )
    ):  # fmt: skip
        periods.setdefault(patient_id, []).append((start, end))
    for items in periods.values():
        items.sort()
        for (_, end), (next_start, _) in zip(items, items[1:], strict=False):
            assert end is not None and end <= next_start


def reference_inputs() -> dict[int, rules.PatientIn]:
    """The cohort's rules inputs read the plain ORM way, with every row of every table
    (every variant, every assessment and appointment), through the product's adapter for
    model instances: what the engine's bulk read is checked against."""
    variants: dict[int, list] = {}
    for v in of_cohort(Variant, "result__draw__patient__").order_by("result_id", "id"):
        variants.setdefault(v.result_id, []).append(v)
    draws = Prefetch(
        "draws", queryset=Draw.objects.exclude(status="cancelled").select_related("result")
    )
    inputs = {}
    for patient in patients().prefetch_related(
        "treatments", "assessments", "appointments", "alerts", draws
    ):
        results = [d.result for d in patient.draws.all() if hasattr(d, "result")]
        inputs[patient.id] = patient_input(
            patient,
            treatments=patient.treatments.all(),
            assessments=patient.assessments.all(),
            appointments=patient.appointments.all(),
            draws=patient.draws.all(),
            results=results,
            variants=[v for r in results for v in variants.get(r.id, ())],
            alerts=patient.alerts.all(),
        )
    return inputs


def expected_verdicts() -> dict[int, rules.Evaluation]:
    policy = engine.current_policy()
    return {
        patient_id: rules.evaluate(patient, today=AS_OF, policy=policy)
        for patient_id, patient in reference_inputs().items()
    }


def assert_stored_as_decided(expected: dict[int, rules.Evaluation]) -> None:
    """State, planned draw and open alerts of every patient are what the rules decided."""
    states = SurveillanceState.objects.in_bulk(list(expected))
    planned = dict(of_cohort(Draw).filter(status="planned").values_list("patient_id", "due_date"))
    alerts: dict[int, set] = {}
    for a in of_cohort(Alert).filter(status="open"):
        alerts.setdefault(a.patient_id, set()).add(
            (a.kind, a.severity, a.subject, a.title, a.rationale, json.dumps(a.evidence,
             sort_keys=True), tuple(a.result_ids))
        )  # fmt: skip
    for patient_id, verdict in expected.items():
        state = states[patient_id]
        assert (
            state.eligible, state.reason, state.risk_level, list(state.risk_factors),
            state.next_draw_due, state.surveillance_treatment_id,
        ) == (
            verdict.eligible, verdict.reason, verdict.risk_level or "",
            list(verdict.risk_factors), verdict.next_due_on, verdict.surveillance_treatment_id,
        ), patient_id  # fmt: skip
        assert planned.get(patient_id) == (verdict.next_due_on if verdict.eligible else None)
        assert alerts.get(patient_id, set()) == {
            (s.kind, s.severity, s.subject, s.title, s.rationale,
             json.dumps(s.evidence, sort_keys=True), tuple(sorted(s.result_ids)))
            for s in verdict.alerts
        }, patient_id  # fmt: skip


def test_engine_stores_exactly_what_the_rules_decide_on_row_by_row_inputs(cohort, monkeypatch):
    """The engine loads in bulk and skips what the rules never read (e.g. PIK3CA variants);
    on the synthetic cohort its stored outcome must equal rules.evaluate on full inputs."""
    monkeypatch.setattr(engine, "BATCH_SIZE", 70)  # several batches, the last one partial
    expected = expected_verdicts()
    engine.run_for_patients(list(expected), today=AS_OF)
    assert_stored_as_decided(expected)


@pytest.mark.django_db(transaction=True)
def test_parallel_streams_store_what_the_rules_decide(monkeypatch, settings):
    """A large run splits its patients into streams by lock bucket, each on its own thread and
    database connection; together they store exactly what one stream would."""
    seed(300, 5, replace=True, no_audit=True)  # committed, for the streams' connections
    monkeypatch.setattr(engine, "BATCH_SIZE", 40)
    settings.SURVEILLANCE_ENGINE_WORKERS = 2
    threads: dict[str, list[int]] = {}
    run_stream = engine._run_stream

    def recording(ids, **kwargs):
        threads[threading.current_thread().name] = list(ids)
        return run_stream(ids, **kwargs)

    monkeypatch.setattr(engine, "_run_stream", recording)
    expected = expected_verdicts()
    stats = engine.run_for_patients(list(expected), today=AS_OF)

    assert len(threads) == 2 and threading.current_thread().name not in threads
    streams = list(threads.values())
    assert sorted(streams[0] + streams[1]) == sorted(expected), "each patient once"
    buckets = [{i % engine.LOCK_BUCKETS for i in stream} for stream in streams]
    assert not buckets[0] & buckets[1], "the streams would wait for each other's locks"
    assert stats.evaluated == 300
    assert_stored_as_decided(expected)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failing_stream", [0, 1])
def test_a_failing_stream_fails_the_run_and_stops_the_other(monkeypatch, settings, failing_stream):
    seed(160, 5, replace=True, no_audit=True)  # committed, for the streams' connections
    monkeypatch.setattr(engine, "BATCH_SIZE", 10)
    settings.SURVEILLANCE_ENGINE_WORKERS = 2
    ids = sorted(patients().values_list("id", flat=True))
    doomed = next(i for i in ids if i % engine.LOCK_BUCKETS % 2 == failing_stream)
    run_batch = engine._run_batch
    batches = []
    failed = threading.Event()

    def failing(batch, **kwargs):
        batches.append(batch)
        if doomed in batch:
            failed.set()
            raise OperationalError("database went away")
        # The healthy stream is at its first batch when the other one fails.
        assert failed.wait(30), "the failing stream never ran"
        return run_batch(batch, **kwargs)

    monkeypatch.setattr(engine, "_run_batch", failing)
    with pytest.raises(OperationalError, match="database went away"):
        engine.run_for_patients(ids, today=AS_OF)
    # 1 failed batch; the healthy stream has 8 and stops after the one (or two) under way.
    assert len(batches) <= 3, f"the healthy stream went on: {len(batches)} batches"
    failed = next(b for b in batches if doomed in b)
    assert not SurveillanceState.objects.filter(patient_id__in=failed).exists()


def test_replace_refuses_when_the_append_only_access_log_names_a_synthetic_patient(cohort):
    patient = patients().first()
    PatientAccess.objects.create(user=patient.oncologist, patient=patient, view="detail")
    with pytest.raises(CommandError, match="record-access log"):
        seed(20, 1, replace=True)
    assert patients().count() == 300

"""Loading the synthetic cohort: COPY in chunks inside one transaction, audited; replacing it.

Rows are written with Postgres COPY (psycopg 3) in chunks of 5,000 patients, inside one
transaction: an interrupted load leaves nothing behind. Ids of patients, draws and results
are reserved from their sequences first so children can be written without a round trip.
Generating chunk k+1 (Python, on a second thread) overlaps with Postgres digesting chunk k.
"""

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime

import pghistory
import pgtrigger
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_set_role
from patients.audit import history_trigger_ignore_list
from patients.models import Appointment, Assessment, Patient, PatientAccess, Treatment, clinic_today
from surveillance import planner_stats, programme_facts
from surveillance.models import Draw, Result, Variant
from surveillance.synthetic_cohort.generate import MRN_PATTERN, CohortModel, SynthPatient

ONCOLOGIST_PREFIX = "cohort.onc"
PATIENTS_PER_ONCOLOGIST = 400
CHUNK = 5_000
MAX_PATIENTS = 9_999_999  # MRNs are SYN + 7 digits


class CohortError(Exception):
    """A cohort that cannot be loaded as asked; the message says what to do instead."""


PATIENT_COLUMNS = (
    "mrn", "given_name", "family_name", "birth_date", "sex", "er_status", "pr_status",
    "her2_status", "metastatic_diagnosis_date", "metastatic_sites", "prior_adjuvant_ai",
    "high_tumour_burden", "status", "enrolled_on", "id", "oncologist_id", "created_at",
    "updated_at",
)  # fmt: skip
TREATMENT_COLUMNS = (
    "line_number", "setting", "endocrine_therapy_id", "cdk46_inhibitor_id", "start_date",
    "end_date", "end_reason", "patient_id", "created_at", "updated_at",
)  # fmt: skip
ASSESSMENT_COLUMNS = ("date", "modality", "response", "patient_id", "note", "created_at")
APPOINTMENT_COLUMNS = ("date", "kind", "patient_id", "note", "created_at")
DRAW_COLUMNS = (
    "id", "patient_id", "status", "due_date", "collected_on", "assay", "accession", "pinned",
    "cancel_reason", "created_at", "updated_at",
)  # fmt: skip
RESULT_COLUMNS = ("id", "draw_id", "reported_on", "status", "esr1_status", "comment", "created_at")
VARIANT_COLUMNS = (
    "gene", "protein_change", "short", "esr1_activating", "esr1_vus", "vaf_percent", "result_id"
)  # fmt: skip

WRITTEN = {
    Patient: PATIENT_COLUMNS, Treatment: TREATMENT_COLUMNS, Assessment: ASSESSMENT_COLUMNS,
    Appointment: APPOINTMENT_COLUMNS, Draw: DRAW_COLUMNS, Result: RESULT_COLUMNS,
    Variant: VARIANT_COLUMNS,
}  # fmt: skip


@dataclass
class LoadStats:
    rows: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    generate_seconds: float = 0.0
    copy_seconds: float = 0.0
    table_seconds: dict[str, float] = field(default_factory=dict)
    commit_seconds: float = 0.0
    analyze_seconds: float = 0.0

    def add(self, model, count: int, seconds: float) -> None:
        table = model._meta.db_table
        self.rows[table] = self.rows.get(table, 0) + count
        self.table_seconds[table] = self.table_seconds.get(table, 0.0) + seconds


def seed_cohort(
    *, patients: int, seed: int = 1, today: date | None = None, replace: bool = False,
    audit: bool = True, progress: bool = False,
) -> LoadStats:  # fmt: skip
    """Load the cohort in one transaction and return row counts and timings."""
    _check_request(patients)
    today = today or clinic_today()
    stats = LoadStats()
    started = time.monotonic()
    metadata = {"source": "seed_cohort", "patients": patients, "seed": seed,
                "as_of": today.isoformat(), "replace": replace, "audit": audit}  # fmt: skip
    with (
        transaction.atomic(),
        pghistory.context(**metadata) as context,
        connection.cursor() as django_cursor,
        django_cursor.connection.cursor() as cursor,  # psycopg 3's own, same transaction
    ):
        _prepare_triggers(cursor, context, audit=audit)
        # Django's foreign keys are checked at commit by default; checking each COPY as it
        # ends costs the same and keeps the progress bar honest (no long silent commit).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if synthetic_patients().exists():
            if not replace:
                raise CohortError(
                    "A synthetic cohort (MRNs SYN0000000...) is already loaded; "
                    "add --replace to delete it and load the new one."
                )
            stats.deleted = delete_synthetic_cohort()
        n_oncologists = max(3, round(patients / PATIENTS_PER_ONCOLOGIST))
        oncologist_ids = [u.id for u in cohort_oncologists(n_oncologists)]
        model = CohortModel(seed=seed, today=today, oncologists=n_oncologists)
        now = timezone.now()

        def write(chunk: list[SynthPatient]) -> None:
            _write_chunk(cursor, chunk, oncologist_ids, now, stats)

        _generate_and_write(model, patients, write, stats, progress=progress)
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # back to Django's default
        commit_started = time.monotonic()
    stats.commit_seconds = time.monotonic() - commit_started
    # Left analysed, as a user would find it: the first run must not plan on the statistics
    # of empty tables (nor wait for autovacuum to notice). History tables too, when stale.
    analyze_started = time.monotonic()
    planner_stats.analyze([model._meta.db_table for model in WRITTEN])
    planner_stats.refresh()
    stats.analyze_seconds = time.monotonic() - analyze_started
    stats.seconds = time.monotonic() - started
    return stats


def _check_request(patients: int) -> None:
    if patients < 1:
        raise CohortError("--patients must be at least 1, e.g. --patients 10000")
    if patients > MAX_PATIENTS:
        raise CohortError(f"--patients is at most {MAX_PATIENTS:,} (MRNs are SYN + 7 digits)")
    _check_columns()


def _check_columns() -> None:
    """COPY names its columns; a NOT NULL column added to a model later without a database
    default would make the load fail deep inside Postgres, so say so up front."""
    for model, columns in WRITTEN.items():
        for f in model._meta.concrete_fields:
            if (
                f.column in columns
                or f.null
                or f.primary_key
                or f.db_default is not models.NOT_PROVIDED
            ):
                continue
            raise CohortError(
                f"seed_cohort does not fill {model._meta.db_table}.{f.column}; "
                "add it to the column lists in surveillance/synthetic_cohort/load.py"
            )


def _generate_and_write(
    model: CohortModel, patients: int, write: Callable, stats: LoadStats, *, progress: bool
) -> None:
    """Generate the patients chunk by chunk and hand each chunk to `write`.

    Generating chunk k+1 (Python) overlaps with Postgres digesting chunk k's COPY: the COPY
    waits on the socket without the GIL, so the two cores both work."""
    bar = _Progress(patients, enabled=progress)
    chunks = [range(i, min(patients, i + CHUNK)) for i in range(0, patients, CHUNK)]

    def generate(indexes: range) -> tuple[list[SynthPatient], float]:
        t0 = time.monotonic()
        return [model.patient(i) for i in indexes], time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-cohort") as pool:
        pending = pool.submit(generate, chunks[0])
        for k, indexes in enumerate(chunks):
            chunk, generate_seconds = pending.result()
            if k + 1 < len(chunks):
                pending = pool.submit(generate, chunks[k + 1])
            t1 = time.monotonic()
            write(chunk)
            stats.generate_seconds += generate_seconds
            stats.copy_seconds += time.monotonic() - t1
            bar.update(indexes.stop)
    bar.close()


def _prepare_triggers(cursor, context, *, audit: bool) -> None:
    """Set, for this transaction, the two settings the history triggers read.

    COPY bypasses Django's execute wrappers, so pghistory cannot attach its context to it;
    we attach it by hand and every history row of the load points at one context row.

    Both settings are set even when there is nothing to ignore: the trigger functions read
    them with current_setting() inside an EXCEPTION block, and a setting that was never set
    raises there. Catching that costs a subtransaction rollback per row and setting (about
    150 us each on a 2-core machine, 6x the cost of the insert itself); an empty ignore
    list keeps every trigger firing without it.
    """
    cursor.execute(
        "SELECT set_config('pghistory.context_id', %s, true), "
        "set_config('pghistory.context_metadata', %s, true), "
        "set_config('pgtrigger.ignore', %s, true)",
        [str(context.id), json.dumps(context.metadata), _ignore_list(audit=audit)],
    )


def _ignore_list(*, audit: bool) -> str:
    if audit:
        return "{}"
    return history_trigger_ignore_list(pgtrigger.Insert, pgtrigger.Delete)


# --- One chunk -----------------------------------------------------------------------------


def _reserve_ids(cursor, model, count: int) -> list[int]:
    if count == 0:
        return []
    table = model._meta.db_table
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        [table, count],
    )
    return sorted(row[0] for row in cursor.fetchall())


def _copy(cursor, model, columns, rows) -> None:
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def _write_chunk(cursor, chunk: list[SynthPatient], oncologist_ids, now: datetime, stats) -> None:
    rows = _chunk_rows(cursor, chunk, oncologist_ids, now)
    for model, columns in WRITTEN.items():
        started = time.monotonic()
        _copy(cursor, model, columns, rows[model])
        stats.add(model, len(rows[model]), time.monotonic() - started)


def _chunk_rows(cursor, chunk: list[SynthPatient], oncologist_ids, now: datetime) -> dict:
    """The chunk's rows for each table, in WRITTEN's column order, with reserved ids."""
    patient_ids = _reserve_ids(cursor, Patient, len(chunk))
    draw_ids = iter(_reserve_ids(cursor, Draw, sum(len(p.draws) for p in chunk)))
    n_results = sum(1 for p in chunk for d in p.draws if d.result is not None)
    result_ids = iter(_reserve_ids(cursor, Result, n_results))
    rows: dict = {model: [] for model in WRITTEN}
    for pid, synth in zip(patient_ids, chunk, strict=True):
        rows[Patient].append((*synth.patient, pid, oncologist_ids[synth.oncologist_slot], now, now))
        rows[Treatment].extend((*t, pid, now, now) for t in synth.treatments)
        rows[Assessment].extend((*a, pid, "", now) for a in synth.assessments)
        rows[Appointment].extend((*a, pid, "", now) for a in synth.appointments)
        for d in synth.draws:
            did = next(draw_ids)
            rows[Draw].append(
                (did, pid, d.status, None, d.collected_on, d.assay, d.accession, False,
                 d.cancel_reason, now, now)
            )  # fmt: skip
            if d.result is not None:
                rid = next(result_ids)
                r = d.result
                rows[Result].append((rid, did, r.reported_on, r.status, r.esr1_status, "", now))
                rows[Variant].extend((*v, rid) for v in r.variants)
    return rows


class _Progress:
    def __init__(self, total: int, *, enabled: bool):
        self.total, self.enabled, self.started = total, enabled, time.monotonic()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed else 0
        width = 30
        filled = int(width * done / self.total) if self.total else width
        sys.stderr.write(
            f"\r  patients [{'#' * filled}{'.' * (width - filled)}] {done:,}/{self.total:,}"
            f"  {elapsed:5.1f}s  {rate:,.0f}/s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --- The cohort's oncologists, and replacing a cohort -----------------------------------------


def cohort_oncologists(count: int) -> list[User]:
    """cohort.onc001 ... with role oncologist and no usable password (nobody logs in as
    them); existing ones are reused so a replaced cohort keeps its oncologists."""
    usernames = [f"{ONCOLOGIST_PREFIX}{i:03d}" for i in range(1, count + 1)]
    existing = {u.username: u for u in User.objects.filter(username__in=usernames)}
    users = []
    for i, username in enumerate(usernames, start=1):
        user = existing.get(username)
        if user is None:
            user = User(
                username=username, first_name="Cohort", last_name=f"Oncologist {i:03d}",
                email=f"{username}@example.invalid", role=Role.ONCOLOGIST,
            )  # fmt: skip
            user.set_unusable_password()
            user.save()
        if user.role != Role.ONCOLOGIST or not user.groups.filter(name=Role.ONCOLOGIST).exists():
            user_set_role(user=user, role=Role.ONCOLOGIST)
        users.append(user)
    return users


def synthetic_patients():
    return Patient.objects.filter(mrn__regex=MRN_PATTERN)


def delete_synthetic_cohort() -> dict[str, int]:
    """Delete the synthetic patients and every row that references them, children first.

    The tables are found through the foreign keys Postgres enforces (history tables keep
    their rows: they are append-only and point at objects without a constraint)."""
    viewed = PatientAccess.objects.filter(patient__mrn__regex=MRN_PATTERN)
    if viewed.exists():
        # The access log is append-only evidence; it is not ours to rewrite, even for fakes.
        n = viewed.values("patient").distinct().count()
        raise CohortError(
            f"{n} synthetic patients were opened by a user and are in the record-access log, "
            "which cannot be changed, so this cohort cannot be replaced here. Load the new "
            "cohort into a fresh database instead (bench/engine_bench.py makes its own)."
        )
    counts: dict[str, int] = {}
    root_sql = f"SELECT id FROM {Patient._meta.db_table} WHERE mrn ~ %s"  # noqa: S608
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _delete_tree(cursor, Patient, root_sql, [MRN_PATTERN], counts, depth=0)
            # The programme's monthly sums counted them too.
            programme_facts.rebuild()
    except DatabaseError as exc:  # e.g. another append-only table added later
        raise CohortError(f"Could not delete the previous synthetic cohort: {exc}") from exc
    return counts


def _delete_tree(cursor, model, pk_sql: str, params: list, counts: dict, *, depth: int) -> None:
    # Table and column names below come from model metadata, never from input.
    if depth > 6:
        raise CohortError(f"foreign keys to {model._meta.label} nest too deep to delete safely")
    for rel in model._meta.related_objects:
        if rel.many_to_many or not getattr(rel.field, "db_constraint", True):
            continue
        child = rel.related_model
        if child is model:
            # A row pointing at another of the same table (a result superseded by a later
            # one) goes with it: the foreign keys are checked at commit, not row by row.
            continue
        select = f"SELECT {child._meta.pk.column} FROM {child._meta.db_table}"  # noqa: S608
        child_sql = f"{select} WHERE {rel.field.column} IN ({pk_sql})"
        _delete_tree(cursor, child, child_sql, params, counts, depth=depth + 1)
    table = model._meta.db_table
    delete = f"DELETE FROM {table} WHERE {model._meta.pk.column} IN ({pk_sql})"  # noqa: S608
    cursor.execute(delete, params)
    counts[table] = counts.get(table, 0) + cursor.rowcount

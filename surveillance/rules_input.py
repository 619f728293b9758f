"""The rules' inputs (the NamedTuples of surveillance.rules) from stored rows: one translation.

Each input is built from a row of the model columns listed next to it (TREATMENT, DRAW,
...) by one function (`treatment_in`, `draw_in`, ...), which also smooths what storage and
the rules spell differently: "" for "none" becomes None, a Decimal VAF a float, a JSON list
of result ids a frozenset. Two readers share them:

- the engine's set-wise read, `load_batch`: one loader per table, each one query for the
  whole batch, its rows fetched as plain tuples of those columns (surveillance.bulk);
- a per-patient ORM read, `patient_input`, which reads the same attributes of model
  instances: bench/engine_bench.py's per-patient loop, and the reference the engine's bulk
  read is checked against (tests/surveillance/test_seed_cohort.py).

`load_batch` leaves out what the rules never read: assessments other than PD, appointments
before today, cancelled draws, variants that are neither ESR1-activating nor an ESR1 VUS,
and resolved alerts of other kinds than ESR1. `patient_input` translates what it is given.
"""

from collections import defaultdict
from datetime import date
from typing import NamedTuple

from django.db.models import Q

from patients.models import Appointment, Assessment, Patient, Treatment
from surveillance import rules
from surveillance.bulk import any_id, fetch_rows, from_json, id_array
from surveillance.models import ESR1_KINDS, Alert, Draw, Variant

# --- One row, one input ----------------------------------------------------------------------
#
# A row starts with the key its input is grouped by (the patient, or for a variant its
# result) and goes on in the NamedTuple's field order. The functions unpack rows positionally
# rather than through helpers: the engine builds a couple of million inputs per 100,000
# patients, and a slice or a call more per row showed in its profile.

TREATMENT = (
    "patient_id", "id", "line_number", "setting", "endocrine_therapy_id", "cdk46_inhibitor_id",
    "start_date", "end_date", "end_reason",
)  # fmt: skip
ASSESSMENT = ("patient_id", "id", "date", "response")
APPOINTMENT = ("patient_id", "id", "date", "kind")
VARIANT = (
    "result_id", "gene", "protein_change", "short", "vaf_percent", "esr1_activating", "esr1_vus",
)  # fmt: skip
RESULT = ("id", "reported_on", "status", "esr1_status")  # and its variants
DRAW = ("patient_id", "id", "status", "due_date", "collected_on", "assay", "pinned")  # + result
ALERT = ("patient_id", "id", "kind", "status", "decision", "result_ids")
PATIENT = (
    "id", "status", "er_status", "pr_status", "her2_status", "metastatic_sites",
    "prior_adjuvant_ai", "high_tumour_burden", "enrolled_on",
)  # and its treatments, assessments, appointments, draws and ESR1 alerts  # fmt: skip


def treatment_in(row) -> rules.TreatmentIn:
    _, tid, line, setting, endocrine, cdk46, start, end, end_reason = row
    return rules.TreatmentIn(tid, line, setting, endocrine, cdk46, start, end, end_reason or None)


def assessment_in(row) -> rules.AssessmentIn:
    _, aid, on, response = row
    return rules.AssessmentIn(aid, on, response)


def appointment_in(row) -> rules.AppointmentIn:
    _, aid, on, kind = row
    return rules.AppointmentIn(aid, on, kind)


def variant_in(row) -> rules.VariantIn:
    _, gene, change, short, vaf, activating, vus = row
    vaf = None if vaf is None else float(vaf)  # reported without a VAF
    return rules.VariantIn(gene, change, short, vaf, activating, vus)


def result_in(row, variants=()) -> rules.ResultIn:
    rid, reported_on, status, esr1_status = row
    return rules.ResultIn(rid, reported_on, status, esr1_status, tuple(variants))


def draw_in(row, result: rules.ResultIn | None = None) -> rules.DrawIn:
    """From a DRAW row, which may go on with its result's columns (ignored here)."""
    assay = row[5]
    return rules.DrawIn(row[1], row[2], row[3], row[4], assay or None, row[6], result)


def alert_in(row) -> rules.AlertIn:
    _, aid, kind, status, decision, result_ids = row
    return rules.AlertIn(aid, kind, status, decision or None, frozenset(from_json(result_ids)))


def patient_in(
    row, *, treatments=(), assessments=(), appointments=(), draws=(), alerts=()
) -> rules.PatientIn:
    pid, status, er, pr, her2, sites, prior_ai, burden, enrolled = row
    return rules.PatientIn(
        pid, status, er, pr, her2, tuple(sites), prior_ai, burden, enrolled, tuple(treatments),
        tuple(assessments), tuple(appointments), tuple(draws), tuple(alerts),
    )  # fmt: skip


# --- From model instances --------------------------------------------------------------------


def _values(instance, columns) -> tuple:
    return tuple(getattr(instance, column) for column in columns)


def patient_input(
    patient: Patient, *, treatments=(), assessments=(), appointments=(), draws=(), results=(),
    variants=(), alerts=(),
) -> rules.PatientIn:  # fmt: skip
    """One patient's input from model instances: the patient and the rows of its timeline
    the rules should see. Results are matched to draws and variants to results by their
    foreign keys (in the order given); alerts of other kinds than ESR1 are left out, as the
    rules read none."""
    by_result = defaultdict(list)
    for v in variants:
        by_result[v.result_id].append(variant_in(_values(v, VARIANT)))
    by_draw = {r.draw_id: result_in(_values(r, RESULT), by_result.get(r.id, ())) for r in results}
    return patient_in(
        _values(patient, PATIENT),
        treatments=[treatment_in(_values(t, TREATMENT)) for t in treatments],
        assessments=[assessment_in(_values(a, ASSESSMENT)) for a in assessments],
        appointments=[appointment_in(_values(a, APPOINTMENT)) for a in appointments],
        draws=[draw_in(_values(d, DRAW), by_draw.get(d.id)) for d in draws],
        alerts=[alert_in(_values(a, ALERT)) for a in alerts if a.kind in ESR1_KINDS],
    )


# --- The engine's set-wise read --------------------------------------------------------------


class Batch(NamedTuple):
    """A batch's inputs, and from the same rows what the engine reconciles its verdicts with."""

    inputs: list[rules.PatientIn]  # in patient id order
    planned: dict[int, dict]  # patient id -> its planned draw: id, patient_id, due_date, pinned
    open_alerts: dict[int, dict[tuple[str, str], dict]]  # patient id -> (kind, subject) -> alert


def load_batch(ids: list[int], *, today: date) -> Batch:
    ids = id_array(ids)  # the array literal, rendered once for every query below
    draws, planned = _draws(ids)
    alerts, open_alerts = _alerts(ids)
    inputs = _patients(
        ids,
        treatments=_treatments(ids),
        assessments=_progressions(ids),
        appointments=_appointments_from(ids, today),
        draws=draws,
        alerts=alerts,
    )
    return Batch(inputs, planned, open_alerts)


def _by_patient(queryset, columns, make) -> dict[int, list]:
    """`make(row)` for each row of `columns`, grouped by the row's first column."""
    grouped: dict[int, list] = defaultdict(list)
    for row in fetch_rows(queryset.order_by().values_list(*columns)):
        grouped[row[0]].append(make(row))
    return grouped


def _treatments(ids: str) -> dict[int, list]:
    return _by_patient(
        Treatment.objects.filter(patient_id__in=any_id(ids)), TREATMENT, treatment_in
    )


def _progressions(ids: str) -> dict[int, list]:
    """Only PD matters to the rules."""
    queryset = Assessment.objects.filter(patient_id__in=any_id(ids), response="PD")
    return _by_patient(queryset, ASSESSMENT, assessment_in)


def _appointments_from(ids: str, today: date) -> dict[int, list]:
    """Only appointments from today on can anchor a draw."""
    queryset = Appointment.objects.filter(patient_id__in=any_id(ids), date__gte=today)
    return _by_patient(queryset, APPOINTMENT, appointment_in)


def _draws(ids: str) -> tuple[dict[int, list], dict[int, dict]]:
    """Each patient's draws but cancelled ones, with their result (a draw has at most one:
    same query) and its variants; and each patient's planned draw."""
    rows = fetch_rows(
        Draw.objects.filter(patient_id__in=any_id(ids))
        .exclude(status="cancelled")
        .order_by()
        .values_list(*DRAW, *(f"result__{column}" for column in RESULT))
    )
    at = len(DRAW)  # where the result's columns start
    variants = _variants([row[at] for row in rows if row[at] is not None])
    draws: dict[int, list] = defaultdict(list)
    planned: dict[int, dict] = {}
    no_variants = ()
    for row in rows:
        pid, rid = row[0], row[at]
        result = None if rid is None else result_in(row[at:], variants.get(rid, no_variants))
        draw = draw_in(row, result)
        draws[pid].append(draw)
        if draw.status == "planned":
            planned[pid] = {
                "id": draw.id, "patient_id": pid, "due_date": draw.due_date, "pinned": draw.pinned,
            }  # fmt: skip
    return draws, planned


def _variants(result_ids: list[int]) -> dict[int, list]:
    """The variants of these results that the rules read: ESR1-activating ones and ESR1 VUS.

    Other genes (PIK3CA, TP53, ... often most of a panel) are never read, so they are not
    loaded. Selected by result id (an index probe each) rather than by joining back to the
    draws' patients, which made Postgres scan the whole variant table for every batch.
    Ordered by (result, id): titles and evidence list variants in that order."""
    if not result_ids:
        return {}
    queryset = (
        Variant.objects.filter(result_id__in=any_id(result_ids))
        .filter(Q(esr1_activating=True) | Q(esr1_vus=True))
        .order_by("result_id", "id")
    )
    by_result: dict[int, list] = defaultdict(list)
    for row in fetch_rows(queryset.values_list(*VARIANT)):
        by_result[row[0]].append(variant_in(row))
    return by_result


# The stored alert as reconciliation compares and updates it.
_OPEN_ALERT = ("subject", "title", "rationale", "evidence", "severity")


def _alerts(ids: str) -> tuple[dict[int, list], dict[int, dict]]:
    """Each patient's ESR1 alerts, open or decided (rules input), and its open alerts of
    every kind by (kind, subject), as stored (what reconciliation compares and updates)."""
    esr1: dict[int, list] = defaultdict(list)
    open_alerts: dict[int, dict[tuple[str, str], dict]] = defaultdict(dict)
    for row in fetch_rows(
        Alert.objects.filter(patient_id__in=any_id(ids))
        .filter(Q(status="open") | Q(kind__in=ESR1_KINDS))
        .order_by()
        .values_list(*ALERT, *_OPEN_ALERT)
    ):
        pid, aid, kind, status, decision, result_ids, subject, title, rationale, evidence, sev = row
        result_ids = from_json(result_ids)
        if kind in ESR1_KINDS:
            esr1[pid].append(alert_in((pid, aid, kind, status, decision, result_ids)))
        if status == "open":
            open_alerts[pid][(kind, subject)] = {
                "id": aid, "patient_id": pid, "kind": kind, "status": status,
                "decision": decision, "subject": subject, "result_ids": result_ids,
                "title": title, "rationale": rationale, "evidence": from_json(evidence),
                "severity": sev,
            }  # fmt: skip
    return esr1, open_alerts


def _patients(
    ids: str, *, treatments, assessments, appointments, draws, alerts
) -> list[rules.PatientIn]:
    """Each patient with its timeline (each argument: lists of inputs by patient id)."""
    empty = ()
    return [
        patient_in(
            row,
            treatments=treatments.get(row[0], empty),
            assessments=assessments.get(row[0], empty),
            appointments=appointments.get(row[0], empty),
            draws=draws.get(row[0], empty),
            alerts=alerts.get(row[0], empty),
        )  # fmt: skip
        for row in fetch_rows(
            Patient.objects.filter(id__in=any_id(ids)).order_by("id").values_list(*PATIENT)
        )
    ]

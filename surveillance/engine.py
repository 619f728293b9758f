"""The surveillance engine: load timelines in bulk, apply the pure rules, reconcile storage.

`surveillance.rules` decides; this module only reads inputs set-wise (a fixed handful of
queries per batch, never per patient), calls `rules.evaluate` for each patient, and makes
the stored planned draws, alerts and SurveillanceState match the verdicts.

Concurrency: every batch takes a transaction-scoped advisory lock per patient (in id
order, so two runs cannot deadlock) before it reads, so the nightly run, the minute
sweep, per-patient tasks and the CLI can overlap without duplicating or losing an alert.
The partial unique index on open alerts is the last line of defence.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date

import pghistory
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from patients.models import Appointment, Assessment, Patient, Treatment, clinic_today
from surveillance import rules
from surveillance.models import (
    ESR1_KINDS,
    LOGISTICS_KINDS,
    Alert,
    Draw,
    Result,
    SurveillancePolicy,
    SurveillanceState,
    Variant,
)

BATCH_SIZE = 2000
# Namespace for pg_advisory_xact_lock(int, int): "ESR1" in ASCII.
LOCK_NAMESPACE = 0x45535231


@dataclass
class RunStats:
    evaluated: int = 0
    eligible: int = 0
    planned: int = 0
    opened: int = 0
    resolved: int = 0
    updated: int = 0

    def add(self, other: "RunStats") -> None:
        for field, value in asdict(other).items():
            setattr(self, field, getattr(self, field) + value)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"eligible {self.eligible}, planned {self.planned}, "
            f"opened {self.opened}, resolved {self.resolved}"
        )


# --- Policy ----------------------------------------------------------------------------------


def current_policy() -> rules.Policy:
    row = SurveillancePolicy.objects.order_by("-version").first()
    if row is None:
        return rules.Policy()
    return policy_from_row(row)


def policy_from_row(row: SurveillancePolicy) -> rules.Policy:
    fields = set(rules.Policy.__dataclass_fields__)
    return rules.Policy(**{name: getattr(row, name) for name in fields})


# --- Entry points ----------------------------------------------------------------------------


def run_for_patients(patient_ids, *, today: date | None = None) -> RunStats:
    today = today or clinic_today()
    policy = current_policy()
    stats = RunStats()
    ids = sorted(set(patient_ids))
    for start in range(0, len(ids), BATCH_SIZE):
        stats.add(_run_batch(ids[start : start + BATCH_SIZE], today=today, policy=policy))
    return stats


def run_all(*, today: date | None = None) -> RunStats:
    ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
    return run_for_patients(ids, today=today)


def run_marked(*, today: date | None = None, limit: int = 5000) -> RunStats:
    """Evaluate patients flagged by a committed change (the outbox sweep)."""
    ids = list(
        SurveillanceState.objects.filter(needs_evaluation=True)
        .order_by("marked_at")
        .values_list("patient_id", flat=True)[:limit]
    )
    return run_for_patients(ids, today=today)


# --- One batch -------------------------------------------------------------------------------


def _lock_patients(ids: list[int]) -> None:
    with connection.cursor() as cursor:
        # unnest keeps the array order, so locks are always taken in ascending id order.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, id::int)) FROM unnest(%s::bigint[]) AS id",
            [LOCK_NAMESPACE, ids],
        )


def _run_batch(ids: list[int], *, today: date, policy: rules.Policy) -> RunStats:
    if not ids:
        return RunStats()
    with transaction.atomic(), pghistory.context(source="surveillance-engine"):
        _lock_patients(ids)
        seen_marks = dict(
            SurveillanceState.objects.filter(patient_id__in=ids, needs_evaluation=True).values_list(
                "patient_id", "marked_at"
            )
        )
        inputs, planned_by_patient, open_alerts = _load(ids, today=today, policy=policy)
        verdicts = [rules.evaluate(p, today=today, policy=policy) for p in inputs]
        stats = RunStats(evaluated=len(verdicts))
        stats.eligible = sum(1 for v in verdicts if v.eligible)
        stats.planned = _reconcile_draws(verdicts, planned_by_patient)
        opened, resolved, updated = _reconcile_alerts(verdicts, open_alerts, policy=policy)
        stats.opened, stats.resolved, stats.updated = opened, resolved, updated
        _store_states(verdicts, today=today, policy=policy, seen_marks=seen_marks)
    return stats


def _load(ids: list[int], *, today: date, policy: rules.Policy):
    patients = Patient.objects.filter(id__in=ids).values(
        "id", "status", "er_status", "pr_status", "her2_status", "metastatic_sites",
        "prior_adjuvant_ai", "high_tumour_burden", "enrolled_on",
    )  # fmt: skip
    by_patient: dict[str, dict[int, list]] = {
        key: defaultdict(list)
        for key in ("treatments", "assessments", "appointments", "draws", "alerts")
    }
    for t in Treatment.objects.filter(patient_id__in=ids).values_list(
        "patient_id", "id", "line_number", "setting", "endocrine_therapy_id", "cdk46_inhibitor_id",
        "start_date", "end_date", "end_reason",
    ):  # fmt: skip
        by_patient["treatments"][t[0]].append(rules.TreatmentIn(*t[1:8], t[8] or None))
    # Only PD matters to the rules.
    for pid, aid, on, response in Assessment.objects.filter(
        patient_id__in=ids, response="PD"
    ).values_list("patient_id", "id", "date", "response"):
        by_patient["assessments"][pid].append(rules.AssessmentIn(aid, on, response))
    # Only appointments from today on can anchor a draw.
    for pid, aid, on, kind in Appointment.objects.filter(
        patient_id__in=ids, date__gte=today
    ).values_list("patient_id", "id", "date", "kind"):
        by_patient["appointments"][pid].append(rules.AppointmentIn(aid, on, kind))

    variants: dict[int, list] = defaultdict(list)
    for v in Variant.objects.filter(result__draw__patient_id__in=ids).values_list(
        "result_id", "gene", "protein_change", "short", "vaf_percent", "esr1_activating",
        "esr1_vus",
    ):  # fmt: skip
        variants[v[0]].append(rules.VariantIn(v[1], v[2], v[3], float(v[4]), v[5], v[6]))
    results: dict[int, rules.ResultIn] = {}
    for rid, draw_id, reported_on, status, esr1 in Result.objects.filter(
        draw__patient_id__in=ids
    ).values_list("id", "draw_id", "reported_on", "status", "esr1_status"):
        results[draw_id] = rules.ResultIn(rid, reported_on, status, esr1, tuple(variants[rid]))
    planned_by_patient: dict[int, dict] = {}
    for d in (
        Draw.objects.filter(patient_id__in=ids)
        .exclude(status="cancelled")
        .values("id", "patient_id", "status", "due_date", "collected_on", "assay", "pinned")
    ):
        by_patient["draws"][d["patient_id"]].append(
            rules.DrawIn(
                d["id"],
                d["status"],
                d["due_date"],
                d["collected_on"],
                d["assay"] or None,
                d["pinned"],
                results.get(d["id"]),
            )  # fmt: skip
        )
        if d["status"] == "planned":
            planned_by_patient[d["patient_id"]] = d

    open_alerts: dict[int, dict[tuple[str, str], dict]] = defaultdict(dict)
    for a in Alert.objects.filter(patient_id__in=ids).filter(
        Q(status="open") | Q(kind__in=ESR1_KINDS)
    ).values("id", "patient_id", "kind", "status", "decision", "subject", "result_ids",
             "title", "rationale", "evidence", "severity"):  # fmt: skip
        if a["kind"] in ESR1_KINDS:
            by_patient["alerts"][a["patient_id"]].append(
                rules.AlertIn(
                    a["id"],
                    a["kind"],
                    a["status"],
                    a["decision"] or None,
                    frozenset(a["result_ids"]),
                )  # fmt: skip
            )
        if a["status"] == "open":
            open_alerts[a["patient_id"]][(a["kind"], a["subject"])] = a

    inputs = [
        rules.PatientIn(
            id=p["id"],
            status=p["status"],
            er_status=p["er_status"],
            pr_status=p["pr_status"],
            her2_status=p["her2_status"],
            metastatic_sites=tuple(p["metastatic_sites"]),
            prior_adjuvant_ai=p["prior_adjuvant_ai"],
            high_tumour_burden=p["high_tumour_burden"],
            enrolled_on=p["enrolled_on"],
            treatments=tuple(by_patient["treatments"][p["id"]]),
            assessments=tuple(by_patient["assessments"][p["id"]]),
            appointments=tuple(by_patient["appointments"][p["id"]]),
            draws=tuple(by_patient["draws"][p["id"]]),
            alerts=tuple(by_patient["alerts"][p["id"]]),
        )  # fmt: skip
        for p in patients
    ]
    return inputs, planned_by_patient, open_alerts


# --- Reconciliation --------------------------------------------------------------------------


def _reconcile_draws(verdicts, planned_by_patient) -> int:
    """At most one planned draw per patient, at the due date; cancelled when ineligible."""
    to_create, to_move, to_cancel = [], [], []
    planned = 0
    for v in verdicts:
        existing = planned_by_patient.get(v.patient_id)
        if v.eligible and v.next_due_on is not None:
            planned += 1
            if existing is None:
                to_create.append(
                    Draw(patient_id=v.patient_id, status="planned", due_date=v.next_due_on)
                )
            elif existing["due_date"] != v.next_due_on:
                to_move.append(Draw(id=existing["id"], due_date=v.next_due_on))
        elif existing is not None:
            to_cancel.append(
                Draw(
                    id=existing["id"],
                    status="cancelled",
                    cancel_reason=f"No longer eligible: {v.reason}",
                )
            )
    now = timezone.now()
    if to_create:
        Draw.objects.bulk_create(to_create, ignore_conflicts=True)
    for draw in to_move + to_cancel:
        draw.updated_at = now
    if to_move:
        Draw.objects.bulk_update(to_move, ["due_date", "updated_at"])
    if to_cancel:
        Draw.objects.bulk_update(to_cancel, ["status", "cancel_reason", "updated_at"])
    return planned


_ALERT_FIELDS = ("severity", "title", "rationale", "evidence", "result_ids")


def _reconcile_alerts(verdicts, open_alerts, *, policy: rules.Policy) -> tuple[int, int, int]:
    now = timezone.now()
    to_create, to_update, to_resolve = [], [], []
    for v in verdicts:
        existing = open_alerts.get(v.patient_id, {})
        wanted = {(spec.kind, spec.subject): spec for spec in v.alerts}
        for key, spec in wanted.items():
            values = {
                "severity": spec.severity, "title": spec.title, "rationale": spec.rationale,
                "evidence": spec.evidence, "result_ids": sorted(spec.result_ids),
            }  # fmt: skip
            current = existing.get(key)
            if current is None:
                to_create.append(
                    Alert(
                        patient_id=v.patient_id,
                        kind=spec.kind,
                        subject=spec.subject,
                        policy_version=policy.version,
                        **values,
                    )  # fmt: skip
                )
            elif any(current[f] != values[f] for f in _ALERT_FIELDS):
                if spec.kind == "esr1_switch":
                    # Results once listed stay listed: later positives are added, never dropped.
                    values["result_ids"] = sorted(
                        set(values["result_ids"]) | set(current["result_ids"])
                    )
                to_update.append(Alert(id=current["id"], updated_at=now, **values))
        for key, current in existing.items():
            # Logistics alerts clear themselves; ESR1 alerts wait for an oncologist.
            if key not in wanted and current["kind"] in LOGISTICS_KINDS:
                to_resolve.append(
                    Alert(
                        id=current["id"],
                        status="resolved",
                        decision="auto",
                        resolved_at=now,
                        updated_at=now,
                    )
                )
    opened = 0
    if to_create:
        # A concurrent writer that won the partial unique index keeps its row; ours is dropped.
        created = Alert.objects.bulk_create(to_create, ignore_conflicts=True)
        opened = len(created)
    if to_update:
        Alert.objects.bulk_update(to_update, [*_ALERT_FIELDS, "updated_at"])
    if to_resolve:
        Alert.objects.bulk_update(to_resolve, ["status", "decision", "resolved_at", "updated_at"])
    return opened, len(to_resolve), len(to_update)


def _store_states(verdicts, *, today: date, policy: rules.Policy, seen_marks: dict) -> None:
    now = timezone.now()
    states = [
        SurveillanceState(
            patient_id=v.patient_id,
            eligible=v.eligible,
            reason=v.reason,
            risk_level=v.risk_level or "",
            risk_factors=list(v.risk_factors),
            next_draw_due=v.next_due_on,
            surveillance_treatment_id=v.surveillance_treatment_id,
            evaluated_for=today,
            evaluated_at=now,
            policy_version=policy.version,
            needs_evaluation=False,
        )  # fmt: skip
        for v in verdicts
    ]
    SurveillanceState.objects.bulk_create(
        states,
        update_conflicts=True,
        unique_fields=["patient"],
        update_fields=[
            "eligible", "reason", "risk_level", "risk_factors", "next_draw_due",
            "surveillance_treatment_id", "evaluated_for", "evaluated_at", "policy_version",
        ],
    )  # fmt: skip
    if not seen_marks:
        return
    # Clear only the marks this run read: a change committed meanwhile re-marks the row with
    # a new time (waiting on our row lock first), keeps its flag and is evaluated again.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE surveillance_surveillancestate AS s SET needs_evaluation = false "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) AS m(pid, marked) "
            "WHERE s.patient_id = m.pid AND s.marked_at = m.marked AND s.needs_evaluation",
            [list(seen_marks), list(seen_marks.values())],
        )

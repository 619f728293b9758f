"""The surveillance rules of SPEC section 5: plain data in, decisions out.

Pure Python on purpose: no Django, no database, no clock, no I/O. "Today" and the policy are
arguments, so every boundary can be pinned in a test and the nightly run can evaluate a whole
cohort from data it loaded in bulk. The engine (surveillance/engine.py) turns stored rows into
the `...In` dataclasses below, calls `evaluate`, and reconciles the returned `AlertSpec`s and
`next_due_on` with what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import NamedTuple

__all__ = [
    "AROMATASE_INHIBITORS",
    "CDK46_INHIBITORS",
    "ESR1_ALERT_KINDS",
    "RISK_FACTOR_CODES",
    "RULE_NAMES",
    "SERDS",
    "SEVERITY_BY_KIND",
    "VISCERAL_SITES",
    "AlertIn",
    "AlertSpec",
    "AppointmentIn",
    "AssessmentIn",
    "DrawIn",
    "Evaluation",
    "PatientIn",
    "Policy",
    "ResultIn",
    "TreatmentIn",
    "VariantIn",
    "evaluate",
    "format_vaf",
    "format_vaf_percent",
    "is_surveillance_regimen",
    "risk_factor_label",
    "rule_sentence",
]

AROMATASE_INHIBITORS = frozenset({"letrozole", "anastrozole", "exemestane"})
SERDS = frozenset({"fulvestrant", "camizestrant", "elacestrant", "imlunestrant", "giredestrant"})
CDK46_INHIBITORS = frozenset({"palbociclib", "ribociclib", "abemaciclib"})
VISCERAL_SITES = frozenset({"liver", "lung", "pleura", "peritoneum", "brain"})

ESR1_ALERT_KINDS = frozenset({"esr1_switch", "esr1_at_progression", "esr1_vus_review"})
SEVERITY_BY_KIND = {
    "esr1_switch": "high",
    "esr1_at_progression": "medium",
    "esr1_vus_review": "low",
    "draw_due": "low",
    "draw_overdue": "medium",
    "redraw_needed": "medium",
    "result_overdue": "low",
}

# The rule behind each alert kind, in a clinician's words: alert rationales end with it and the
# policy page lists it. Clinicians never see the specification, so nothing here cites it.
RULE_NAMES = {
    "esr1_switch": "ESR1 mutation on first-line AI + CDK4/6 inhibitor before progression",
    "esr1_at_progression": (
        "ESR1 mutation on first-line AI + CDK4/6 inhibitor after documented progression"
    ),
    "esr1_vus_review": (
        "ESR1 variant outside the known activating ligand-binding-domain mutations"
    ),
    "draw_due": "ctDNA draw coming due",
    "draw_overdue": "ctDNA draw overdue",
    "redraw_needed": "Redraw after a failed ctDNA result",
    "result_overdue": "ctDNA result not back from the laboratory",
}

# Stable codes stored with the patient and sent by the API; the wording lives in
# risk_factor_label so an admin can change a threshold without renaming a code.
RISK_FACTOR_CODES = (
    "prior_adjuvant_ai",
    "visceral_metastases",
    "three_or_more_sites",
    "high_tumour_burden",
    "182_days_on_treatment",
)

_ASSAY_LABELS = {
    "guardant360_cdx": "Guardant360 CDx",
    "foundationone_liquid_cdx": "FoundationOne Liquid CDx",
    "ddpcr_esr1": "ESR1 ddPCR",
    "other": "other assay",
}

# Draws that really happened; a cancelled draw never counts, whatever it carries.
_COLLECTED_STATUSES = frozenset({"collected", "resulted"})


# --------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """SPEC section 5, policy v1 defaults. Admins edit these; each edit is a new version."""

    version: int = 1
    first_draw_after_days: int = 56
    redraw_after_failed_days: int = 14
    interval_high_risk_days: int = 56
    interval_standard_risk_days: int = 84
    alignment_window_days: int = 14
    high_risk_days_on_treatment: int = 182
    high_risk_min_sites: int = 3
    draw_due_lookahead_days: int = 7
    draw_overdue_after_days: int = 14
    result_overdue_after_days: int = 14


# The inputs are NamedTuples: immutable like the frozen dataclasses around them, and about
# three times cheaper to build, which matters when the engine builds a couple of million of
# them for a 100,000-patient run.


class TreatmentIn(NamedTuple):
    id: int
    line_number: int
    setting: str  # metastatic | adjuvant
    endocrine_therapy: str | None
    cdk46_inhibitor: str | None
    start_date: date
    end_date: date | None = None
    end_reason: str | None = None


class AssessmentIn(NamedTuple):
    id: int
    date: date
    response: str  # CR | PR | SD | PD | NE


class AppointmentIn(NamedTuple):
    id: int
    date: date
    kind: str  # clinic | imaging


class VariantIn(NamedTuple):
    gene: str
    protein_change: str  # canonical HGVS, e.g. p.Asp538Gly
    short: str  # e.g. D538G
    vaf_percent: float | None  # None: reported without a VAF
    esr1_activating: bool
    esr1_vus: bool


class ResultIn(NamedTuple):
    id: int
    reported_on: date
    status: str  # final | failed
    esr1_status: str  # detected | not_detected | failed
    variants: tuple[VariantIn, ...] = ()


class DrawIn(NamedTuple):
    """A blood sample. `pinned` marks a planned draw set by an oncologist's "repeat_test"
    decision: until it is collected its due_date stands, whatever rule 4 computes."""

    id: int
    status: str  # planned | collected | resulted | cancelled
    due_date: date | None = None
    collected_on: date | None = None
    assay: str | None = None
    pinned: bool = False
    result: ResultIn | None = None


class AlertIn(NamedTuple):
    """An existing ESR1-family alert of the patient, open or resolved, with the result ids in
    its evidence."""

    id: int
    kind: str
    status: str  # open | resolved
    decision: str | None
    result_ids: frozenset[int]


class PatientIn(NamedTuple):
    id: int
    status: str  # active | inactive | deceased
    er_status: str
    pr_status: str
    her2_status: str
    metastatic_sites: tuple[str, ...]
    prior_adjuvant_ai: bool
    high_tumour_burden: bool
    enrolled_on: date
    treatments: tuple[TreatmentIn, ...] = ()
    assessments: tuple[AssessmentIn, ...] = ()
    appointments: tuple[AppointmentIn, ...] = ()
    draws: tuple[DrawIn, ...] = ()
    alerts: tuple[AlertIn, ...] = ()


@dataclass(frozen=True)
class AlertSpec:
    """An alert that should be open now. The engine matches it to a stored alert by
    (kind, subject) and creates, updates or leaves it."""

    kind: str
    severity: str  # high | medium | low
    subject: str  # "" patient-level; "result:<id>" for esr1_vus_review; "draw:<id>" result_overdue
    title: str
    rationale: str
    evidence: dict  # JSON-serialisable only
    result_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Evaluation:
    patient_id: int
    eligible: bool
    reason: str
    surveillance_treatment_id: int | None
    risk_level: str | None  # high | standard; None without a rule-1 treatment
    risk_factors: tuple[str, ...]
    next_due_on: date | None  # None when not eligible
    alerts: tuple[AlertSpec, ...]
    # The first day after `today` on which the same inputs give a different verdict (None:
    # never, by the passing of time alone). The nightly run evaluates a patient again only
    # from that day on, or as soon as the patient's record changes (surveillance/engine.py).
    next_change: date | None = None


def rule_sentence(kind: str, policy: Policy) -> str:
    """The closing sentence of every alert rationale: which rule, under which policy version
    (the pages link "policy vN" to that version's page)."""
    return f"Rule: {RULE_NAMES[kind]} (policy v{policy.version})."


def risk_factor_label(code: str, policy: Policy) -> str:
    """Plain wording of a risk factor code, with the thresholds of `policy`."""
    labels = {
        "prior_adjuvant_ai": "prior adjuvant AI",
        "visceral_metastases": "visceral metastases",
        "three_or_more_sites": f"{policy.high_risk_min_sites} or more metastatic sites",
        "high_tumour_burden": "high tumour burden",
        "182_days_on_treatment": f"{policy.high_risk_days_on_treatment}+ days on treatment",
    }
    # An unknown code (say, from a newer release) still reads as words rather than failing a page.
    return labels.get(code, code.replace("_", " "))


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate(patient: PatientIn, *, today: date, policy: Policy) -> Evaluation:
    """Apply SPEC section 5 rules 1-5 to one patient as of `today`."""
    context = _context(patient, today=today, policy=policy)
    treatment, due = context.treatment, context.due
    return Evaluation(
        patient_id=patient.id,
        eligible=context.eligible,
        reason=context.reason,
        surveillance_treatment_id=treatment.id if treatment is not None else None,
        risk_level=context.risk_level,
        risk_factors=context.risk_factors,
        next_due_on=due.on if due is not None else None,
        alerts=_alerts(context),
        next_change=_next_change(context),
    )


def _context(patient: PatientIn, *, today: date, policy: Policy) -> _Context:
    """Rules 1-4 for one patient as of `today`: what rule 5 and the next change read."""
    current = _current_metastatic_treatment(patient, today=today)
    treatment = current if current is not None and is_surveillance_regimen(current) else None
    progression_dates = _progression_dates(patient, treatment, today=today)

    blocker = _eligibility_blocker(patient, today=today, current=current, treatment=treatment)
    if blocker is None and progression_dates:
        blocker = f"progression documented {progression_dates[0].isoformat()}"
    eligible = blocker is None
    reason = blocker if blocker is not None else _eligible_reason(treatment)

    risk_level: str | None = None
    risk_factors: tuple[str, ...] = ()
    if treatment is not None:
        risk_factors = _risk_factors(patient, treatment, today=today, policy=policy)
        risk_level = "high" if risk_factors else "standard"

    due: _Due | None = None
    if eligible:
        due = _next_due(patient, treatment, risk_level, risk_factors, today=today, policy=policy)

    return _Context(
        patient=patient,
        today=today,
        policy=policy,
        treatment=treatment,
        eligible=eligible,
        reason=reason,
        risk_level=risk_level,
        risk_factors=risk_factors,
        progression_on=progression_dates[0] if progression_dates else None,
        due=due,
    )


# Rule 1 -------------------------------------------------------------------------------------


def _is_current(treatment: TreatmentIn, *, today: date) -> bool:
    # A treatment ending today is over: the one that replaces it may start today.
    return treatment.start_date <= today and (
        treatment.end_date is None or treatment.end_date > today
    )


def _current_metastatic_treatment(patient: PatientIn, *, today: date) -> TreatmentIn | None:
    # Metastatic treatments may not overlap; if bad data makes several current, the latest
    # start is what the patient actually takes now (e.g. a switch whose old line was not ended),
    # so it decides eligibility, rather than any older regimen that happens to qualify.
    current = [
        t for t in patient.treatments if t.setting == "metastatic" and _is_current(t, today=today)
    ]
    return max(current, key=lambda t: (t.start_date, t.id), default=None)


def is_surveillance_regimen(treatment: TreatmentIn) -> bool:
    """A first-line metastatic AI + CDK4/6 inhibitor regimen: what rule 1 monitors while it is
    the current treatment (the patient page marks such treatments on the timeline too)."""
    return (
        treatment.setting == "metastatic"
        and treatment.line_number == 1
        and treatment.endocrine_therapy in AROMATASE_INHIBITORS
        and treatment.cdk46_inhibitor in CDK46_INHIBITORS
    )


# Rule 2 -------------------------------------------------------------------------------------


def _progression_dates(
    patient: PatientIn, treatment: TreatmentIn | None, *, today: date
) -> list[date]:
    """PD dates inside the surveillance window (treatment start to today, inclusive)."""
    if treatment is None:
        return []
    return sorted(
        a.date
        for a in patient.assessments
        if a.response == "PD" and treatment.start_date <= a.date <= today
    )


def _receptors_in_scope(patient: PatientIn) -> bool:
    hormone_positive = "positive" in (patient.er_status, patient.pr_status)
    # HER2-low is recorded as negative; unknown is not a reason to exclude.
    return hormone_positive and patient.her2_status != "positive"


def _eligibility_blocker(
    patient: PatientIn,
    *,
    today: date,
    current: TreatmentIn | None,
    treatment: TreatmentIn | None,
) -> str | None:
    """The most informative reason the patient is outside the programme, progression aside
    (progression needs the rule-1 treatment, so the caller checks it last)."""
    if patient.status != "active":
        return f"patient {patient.status}"
    if "positive" not in (patient.er_status, patient.pr_status):
        if "unknown" in (patient.er_status, patient.pr_status):
            return "hormone-receptor status unknown"
        return "hormone-receptor negative"
    if patient.her2_status == "positive":
        return "HER2-positive"
    if treatment is not None:
        return None
    if current is None:
        if any(t.setting == "adjuvant" and _is_current(t, today=today) for t in patient.treatments):
            return "adjuvant setting"
        return "no current treatment"
    if current.endocrine_therapy in SERDS:
        return "on a SERD"
    if current.line_number == 2:
        return "second-line"
    if current.line_number > 2:
        return f"later line ({current.line_number})"
    if current.line_number != 1:
        return f"line {current.line_number}"
    if current.cdk46_inhibitor not in CDK46_INHIBITORS:
        return "no CDK4/6 inhibitor"
    return "not on an aromatase inhibitor"


def _eligible_reason(treatment: TreatmentIn) -> str:
    return (
        f"First-line {treatment.endocrine_therapy} + {treatment.cdk46_inhibitor}"
        f" since {treatment.start_date.isoformat()}"
    )


# Rule 3 -------------------------------------------------------------------------------------


def _risk_factors(
    patient: PatientIn, treatment: TreatmentIn, *, today: date, policy: Policy
) -> tuple[str, ...]:
    sites = set(patient.metastatic_sites)
    present = {
        "prior_adjuvant_ai": patient.prior_adjuvant_ai,
        "visceral_metastases": bool(sites & VISCERAL_SITES),
        "three_or_more_sites": len(sites) >= policy.high_risk_min_sites,
        "high_tumour_burden": patient.high_tumour_burden,
        "182_days_on_treatment": (today - treatment.start_date).days
        >= policy.high_risk_days_on_treatment,
    }
    return tuple(code for code in RISK_FACTOR_CODES if present[code])


# Rule 4 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    """The next due date with how it was reached, so alerts can explain themselves."""

    on: date
    computed_on: date  # before alignment (equal to `on` when pinned)
    branch: str  # which rule 4 branch: pinned | enrolment | first | redraw | interval
    treatment: TreatmentIn
    enrolled_on: date
    policy: Policy
    risk_factors: tuple[str, ...] = ()
    interval: int | None = None
    appointment: AppointmentIn | None = None
    pinned_draw: DrawIn | None = None
    last_draw: DrawIn | None = None

    @cached_property
    def basis(self) -> str:
        """Plain language: which rule 4 branch and from what. Worded only when an alert
        quotes it, which most patients on most nights do not need."""
        policy, last = self.policy, self.last_draw
        start = self.treatment.start_date.isoformat()
        if self.branch == "pinned":
            pinned = self.pinned_draw
            return (
                f"repeat test requested by the oncologist for {pinned.due_date.isoformat()}"
                f" (draw {pinned.id})"
            )
        if self.branch == "enrolment":
            basis = (
                f"first draw at enrolment on {self.enrolled_on.isoformat()} (later than"
                f" treatment start {start} + {policy.first_draw_after_days} days)"
            )
        elif self.branch == "first":
            basis = f"first draw: treatment start {start} + {policy.first_draw_after_days} days"
        elif self.branch == "redraw":
            basis = (
                f"redraw: result {last.result.id} on the draw collected"
                f" {last.collected_on.isoformat()} failed (reported"
                f" {last.result.reported_on.isoformat()}) + {policy.redraw_after_failed_days}"
                " days"
            )
        else:
            if self.risk_factors:
                labels = ", ".join(risk_factor_label(code, policy) for code in self.risk_factors)
                risk_text = f"high risk: {labels}"
            else:
                risk_text = "standard risk"
            basis = (
                f"last draw collected {last.collected_on.isoformat()} + {self.interval} days"
                f" ({risk_text})"
            )
        appointment = self.appointment
        if appointment is None:
            return basis
        if appointment.date != self.computed_on:
            return (
                f"{basis}, moved from {self.computed_on.isoformat()} to the {appointment.kind}"
                f" appointment on {appointment.date.isoformat()}"
            )
        return f"{basis}, same day as the {appointment.kind} appointment"


def _last_draw(patient: PatientIn, treatment: TreatmentIn, *, today: date) -> DrawIn | None:
    """The most recent draw collected on or after the surveillance treatment's start.

    Draws dated after `today` are ignored so that an evaluation "as of" a past date sees only
    what was known then."""
    collected = [
        d
        for d in patient.draws
        if d.status in _COLLECTED_STATUSES
        and d.collected_on is not None
        and treatment.start_date <= d.collected_on <= today
    ]
    return max(collected, key=lambda d: (d.collected_on, d.id), default=None)


def _pinned_draw(patient: PatientIn) -> DrawIn | None:
    pinned = [d for d in patient.draws if d.status == "planned" and d.pinned and d.due_date]
    # At most one planned draw is expected; the highest id is the latest decision.
    return max(pinned, key=lambda d: d.id, default=None)


def _aligned_appointment(
    patient: PatientIn, due_on: date, *, today: date, policy: Policy
) -> AppointmentIn | None:
    """The appointment to move the draw to: not before today, within the window either side,
    the closest, and on a tie the earlier (a draw taken early beats one taken late)."""
    candidates = [
        a
        for a in patient.appointments
        if a.date >= today and abs((a.date - due_on).days) <= policy.alignment_window_days
    ]
    return min(candidates, key=lambda a: (abs((a.date - due_on).days), a.date, a.id), default=None)


def _next_due(
    patient: PatientIn,
    treatment: TreatmentIn,
    risk_level: str,
    risk_factors: tuple[str, ...],
    *,
    today: date,
    policy: Policy,
) -> _Due:
    last = _last_draw(patient, treatment, today=today)
    facts = {
        "treatment": treatment, "enrolled_on": patient.enrolled_on, "policy": policy,
        "last_draw": last,
    }  # fmt: skip

    pinned = _pinned_draw(patient)
    if pinned is not None:
        # The oncologist chose this date ("repeat_test"); the rules do not second-guess it.
        return _Due(
            on=pinned.due_date,
            computed_on=pinned.due_date,
            branch="pinned",
            pinned_draw=pinned,
            **facts,
        )

    interval = None
    if last is None:
        first_on = treatment.start_date + timedelta(days=policy.first_draw_after_days)
        if patient.enrolled_on > first_on:
            computed_on, branch = patient.enrolled_on, "enrolment"
        else:
            computed_on, branch = first_on, "first"
    elif last.result is not None and last.result.status == "failed":
        computed_on = last.result.reported_on + timedelta(days=policy.redraw_after_failed_days)
        branch = "redraw"
    else:
        if risk_level == "high":
            interval = policy.interval_high_risk_days
        else:
            interval = policy.interval_standard_risk_days
        computed_on, branch = last.collected_on + timedelta(days=interval), "interval"

    appointment = _aligned_appointment(patient, computed_on, today=today, policy=policy)
    return _Due(
        on=appointment.date if appointment is not None else computed_on,
        computed_on=computed_on,
        branch=branch,
        risk_factors=risk_factors if risk_level == "high" else (),
        interval=interval,
        appointment=appointment,
        **facts,
    )


# Rule 5 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    patient: PatientIn
    today: date
    policy: Policy
    treatment: TreatmentIn | None
    eligible: bool
    reason: str
    risk_level: str | None
    risk_factors: tuple[str, ...]
    progression_on: date | None
    due: _Due | None

    def rule(self, kind: str) -> str:
        return rule_sentence(kind, self.policy)

    @cached_property
    def result_kinds(self) -> tuple[bool, bool]:
        """(any result with ESR1 detected, any result listing an ESR1 VUS): one cheap pass
        before the findings are built and sorted, which most patients do not need."""
        detected = vus = False
        for draw in self.patient.draws:
            result = draw.result
            if result is not None:
                detected = detected or result.esr1_status == "detected"
                vus = vus or any(v.esr1_vus for v in result.variants)
        return detected, vus

    @cached_property
    def findings(self) -> list[_Finding]:
        # Both the ESR1 and the VUS rules read the resulted draws; sort them once.
        return _findings(self.patient)


@dataclass(frozen=True)
class _Finding:
    """A result together with the draw it came from."""

    draw: DrawIn
    result: ResultIn

    @property
    def sort_key(self) -> tuple:
        return (self.draw.collected_on or date.min, self.result.reported_on, self.result.id)


def _alerts(ctx: _Context) -> tuple[AlertSpec, ...]:
    alerts: list[AlertSpec] = []
    alerts.extend(_esr1_alerts(ctx))
    alerts.extend(_vus_alerts(ctx))
    alerts.extend(_draw_alerts(ctx))
    alerts.extend(_result_overdue_alerts(ctx))
    return tuple(alerts)


def _findings(patient: PatientIn) -> list[_Finding]:
    findings = [
        _Finding(draw=d, result=d.result)
        for d in patient.draws
        if d.result is not None and d.status != "cancelled"
    ]
    return sorted(findings, key=lambda f: f.sort_key)


def _is_resolved(alert: AlertIn) -> bool:
    return alert.status == "resolved" or alert.decision is not None


def _covered_result_ids(
    alerts: tuple[AlertIn, ...], kind: str, *, resolved_only: bool
) -> frozenset[int]:
    covered: set[int] = set()
    for alert in alerts:
        if alert.kind == kind and (_is_resolved(alert) or not resolved_only):
            covered |= alert.result_ids
    return frozenset(covered)


def _detected_during_surveillance(ctx: _Context) -> list[_Finding]:
    start = ctx.treatment.start_date
    return [
        f
        for f in ctx.findings
        if f.result.status == "final"
        and f.result.esr1_status == "detected"
        and f.draw.collected_on is not None
        and start <= f.draw.collected_on <= ctx.today
    ]


def _esr1_alerts(ctx: _Context) -> list[AlertSpec]:
    if ctx.treatment is None or not ctx.result_kinds[0]:
        return []
    detected = _detected_during_surveillance(ctx)
    if not detected:
        return []
    alerts = ctx.patient.alerts

    if ctx.eligible:
        # A decision covers the results in its alert; an open alert covers nothing yet, its
        # results are listed again so the engine can merge new ones into it.
        covered = _covered_result_ids(alerts, "esr1_switch", resolved_only=True)
        uncovered = [f for f in detected if f.result.id not in covered]
        return [_esr1_switch_alert(ctx, uncovered)] if uncovered else []

    in_progression_window_only = (
        ctx.progression_on is not None
        and ctx.patient.status == "active"
        and _receptors_in_scope(ctx.patient)
    )
    if not in_progression_window_only:
        return []
    # A result already raised as a switch alert (open or decided) was seen before progression;
    # it is not raised again as a progression finding.
    covered = _covered_result_ids(alerts, "esr1_switch", resolved_only=False)
    covered |= _covered_result_ids(alerts, "esr1_at_progression", resolved_only=True)
    uncovered = [f for f in detected if f.result.id not in covered]
    return [_esr1_at_progression_alert(ctx, uncovered)] if uncovered else []


def _esr1_switch_alert(ctx: _Context, findings: list[_Finding]) -> AlertSpec:
    latest = findings[-1]
    treatment = ctx.treatment
    rationale = (
        f"{_finding_sentence(latest)}{_earlier_sentence(findings[:-1])}"
        f" ESR1 mutation detected in ctDNA on first-line AI + CDK4/6 inhibitor without documented"
        f" progression; current treatment {treatment.endocrine_therapy}"
        f" + {treatment.cdk46_inhibitor} since {treatment.start_date.isoformat()}."
        " Consider switching the aromatase inhibitor to a SERD (camizestrant in SERENA-6) and"
        " continuing the CDK4/6 inhibitor, after confirming there is no radiographic progression."
        f" {ctx.rule('esr1_switch')}"
    )
    return AlertSpec(
        kind="esr1_switch",
        severity=SEVERITY_BY_KIND["esr1_switch"],
        subject="",
        title=f"{_variants_title(latest)} detected",
        rationale=rationale,
        evidence=_esr1_evidence(ctx, findings, rule="5.esr1_switch"),
        result_ids=frozenset(f.result.id for f in findings),
    )


def _esr1_at_progression_alert(ctx: _Context, findings: list[_Finding]) -> AlertSpec:
    latest = findings[-1]
    progression = ctx.progression_on.isoformat()
    rationale = (
        f"{_finding_sentence(latest)}{_earlier_sentence(findings[:-1])}"
        f" ESR1 mutation detected during first-line AI + CDK4/6 inhibitor, but outside the"
        f" SERENA-6 window (progression documented {progression}) and not covered by an ESR1"
        f" switch alert. Use for second-line planning. {ctx.rule('esr1_at_progression')}"
    )
    evidence = _esr1_evidence(ctx, findings, rule="5.esr1_at_progression")
    evidence["dates"]["progression_on"] = progression
    return AlertSpec(
        kind="esr1_at_progression",
        severity=SEVERITY_BY_KIND["esr1_at_progression"],
        subject="",
        title=f"{_variants_title(latest)} detected; progression documented {progression}",
        rationale=rationale,
        evidence=evidence,
        result_ids=frozenset(f.result.id for f in findings),
    )


def _vus_alerts(ctx: _Context) -> list[AlertSpec]:
    if ctx.patient.status != "active" or not ctx.result_kinds[1]:
        return []
    # Only a decision closes a review; an open review is re-emitted so it stays open.
    reviewed = _covered_result_ids(ctx.patient.alerts, "esr1_vus_review", resolved_only=True)
    alerts = []
    for finding in ctx.findings:
        result = finding.result
        vus = [v for v in result.variants if v.esr1_vus]
        if result.status != "final" or result.esr1_status == "detected" or not vus:
            continue
        if result.id in reviewed:
            continue
        listed = ", ".join(f"{v.short} ({format_vaf_percent(v.vaf_percent)})" for v in vus)
        rationale = (
            f"Result {result.id} (reported {result.reported_on.isoformat()},"
            f" {_draw_phrase(finding.draw)}) lists ESR1 {listed}, not among the known"
            " activating ESR1 ligand-binding-domain mutations, so the result counts as ESR1 not"
            " detected. Review by the oncologist or molecular tumour board."
            f" {ctx.rule('esr1_vus_review')}"
        )
        alerts.append(
            AlertSpec(
                kind="esr1_vus_review",
                severity=SEVERITY_BY_KIND["esr1_vus_review"],
                subject=f"result:{result.id}",
                title=f"ESR1 variant to review: {listed}",
                rationale=rationale,
                evidence={
                    "result_ids": [result.id],
                    "draw_ids": [finding.draw.id],
                    "variants": [_variant_evidence(v, finding) for v in vus],
                    "dates": {
                        "collected_on": _iso(finding.draw.collected_on),
                        "reported_on": result.reported_on.isoformat(),
                    },
                    "rule": "5.esr1_vus_review",
                    "policy_version": ctx.policy.version,
                },
                result_ids=frozenset({result.id}),
            )
        )
    return alerts


def _draw_alerts(ctx: _Context) -> list[AlertSpec]:
    if not ctx.eligible or ctx.due is None:
        return []
    due, today, policy = ctx.due, ctx.today, ctx.policy
    days_late = (today - due.on).days
    last = due.last_draw
    failed_last = last is not None and last.result is not None and last.result.status == "failed"
    if days_late < -policy.draw_due_lookahead_days and not failed_last:
        return []  # nothing to say yet (most patients, most days)
    alerts = []
    due_evidence = {
        "result_ids": [],
        "draw_ids": [d.id for d in (due.last_draw, due.pinned_draw) if d is not None],
        "variants": [],
        "dates": {
            "due_on": due.on.isoformat(),
            "computed_on": due.computed_on.isoformat(),
            "appointment_on": _iso(due.appointment.date if due.appointment else None),
            "last_collected_on": _iso(due.last_draw.collected_on if due.last_draw else None),
        },
        "policy_version": policy.version,
    }

    if -policy.draw_due_lookahead_days <= days_late <= policy.draw_overdue_after_days:
        alerts.append(
            AlertSpec(
                kind="draw_due",
                severity=SEVERITY_BY_KIND["draw_due"],
                subject="",
                title=f"ctDNA draw due {due.on.isoformat()}",
                rationale=(
                    f"Next ctDNA draw due {due.on.isoformat()}:"
                    f" {due.basis}. Shown from {policy.draw_due_lookahead_days} days before to"
                    f" {policy.draw_overdue_after_days} days after the due date."
                    f" {ctx.rule('draw_due')}"
                ),
                evidence={**due_evidence, "rule": "5.draw_due"},
            )
        )
    elif days_late > policy.draw_overdue_after_days:
        alerts.append(
            AlertSpec(
                kind="draw_overdue",
                severity=SEVERITY_BY_KIND["draw_overdue"],
                subject="",
                title=f"ctDNA draw overdue (due {due.on.isoformat()})",
                rationale=(
                    f"The ctDNA draw due {due.on.isoformat()} is more than the"
                    f" {policy.draw_overdue_after_days} days late allowed: {due.basis}."
                    f" Arrange the draw at the next opportunity. {ctx.rule('draw_overdue')}"
                ),
                evidence={**due_evidence, "rule": "5.draw_overdue"},
            )
        )

    if failed_last:
        result = last.result
        alerts.append(
            AlertSpec(
                kind="redraw_needed",
                severity=SEVERITY_BY_KIND["redraw_needed"],
                subject="",
                title=f"ctDNA result failed; redraw due {due.on.isoformat()}",
                rationale=(
                    f"Result {result.id} (reported {result.reported_on.isoformat()},"
                    f" {_draw_phrase(last)}) failed, so the last draw gives no ESR1 status."
                    f" Next draw due {due.on.isoformat()}: {due.basis}."
                    f" {ctx.rule('redraw_needed')}"
                ),
                evidence={
                    "result_ids": [result.id],
                    "draw_ids": [last.id],
                    "variants": [],
                    "dates": {
                        "collected_on": last.collected_on.isoformat(),
                        "reported_on": result.reported_on.isoformat(),
                        "due_on": due.on.isoformat(),
                    },
                    "rule": "5.redraw_needed",
                    "policy_version": policy.version,
                },
            )
        )
    return alerts


def _result_overdue_alerts(ctx: _Context) -> list[AlertSpec]:
    if ctx.patient.status != "active":
        return []
    limit = ctx.policy.result_overdue_after_days
    waiting = sorted(
        (
            d
            for d in ctx.patient.draws
            if d.status == "collected"
            and d.result is None
            and d.collected_on is not None
            and (ctx.today - d.collected_on).days > limit
        ),
        key=lambda d: (d.collected_on, d.id),
    )
    alerts = []
    for draw in waiting:
        alerts.append(
            AlertSpec(
                kind="result_overdue",
                severity=SEVERITY_BY_KIND["result_overdue"],
                subject=f"draw:{draw.id}",
                title=f"No result for the draw collected {draw.collected_on.isoformat()}",
                rationale=(
                    f"Draw {draw.id} was collected {draw.collected_on.isoformat()}"
                    f" ({_assay_label(draw.assay)}), more than {limit} days ago, and has no"
                    f" result; results are expected within {limit} days. Chase the laboratory."
                    f" {ctx.rule('result_overdue')}"
                ),
                evidence={
                    "result_ids": [],
                    "draw_ids": [draw.id],
                    "variants": [],
                    "dates": {"collected_on": draw.collected_on.isoformat()},
                    "rule": "5.result_overdue",
                    "policy_version": ctx.policy.version,
                },
            )
        )
    return alerts


# When the verdict changes by the passing of time alone ----------------------------------------


def _next_change(ctx: _Context) -> date | None:
    """The first day after ctx.today on which `evaluate` of the same inputs differs, or None.

    Every comparison with `today` in the rules above has its day in `_change_days`. A day
    listed there may change nothing for this patient: evaluating her then costs one
    evaluation; a day missed would leave a verdict stale. The property test
    (tests/surveillance/test_rules_properties.py) and the day-by-day simulation
    (tests/surveillance/test_incremental_simulation.py) hold these dates to that."""
    today = ctx.today
    return min((d for d, _ in _change_days(ctx) if d > today), default=None)


def next_change_causes(patient: PatientIn, *, today: date, policy: Policy) -> tuple[str, ...]:
    """What sets the verdict's next_change (its causes, as `_change_days` names them), for
    explaining why the nightly run evaluates a patient again; () when nothing does."""
    ctx = _context(patient, today=today, policy=policy)
    found = [(d, cause) for d, cause in _change_days(ctx) if d > today]
    if not found:
        return ()
    first = min(d for d, _ in found)
    return tuple(sorted({cause for d, cause in found if d == first}))


def _change_days(ctx: _Context):
    """(day, cause) for each day on which one of the rules' comparisons with `today` flips:
    a treatment starting or ending, 182 days on the surveillance treatment, a progression
    scan or a draw dated ahead coming into the window, the appointment the due date moved to
    passing, the draw-due window opening, the draw turning overdue, a result turning overdue.
    Alert words name dates, never count days, so an open alert does not change from one day
    to the next. Days already past are yielded too; the caller keeps those after today."""
    policy, patient, due = ctx.policy, ctx.patient, ctx.due
    for t in patient.treatments:  # rules 1-2: which treatment is current
        yield t.start_date, "treatment starts"
        if t.end_date is not None:
            yield t.end_date, "treatment ends"
    if ctx.treatment is not None:  # rule 3: days on the surveillance treatment
        yield (
            ctx.treatment.start_date + timedelta(days=policy.high_risk_days_on_treatment),
            "days on treatment",
        )
    for a in patient.assessments:  # rule 2: a scan dated ahead
        if a.response == "PD":
            yield a.date, "progression scan"
    # Rule 5 speaks of results overdue only for active patients.
    overdue_after = timedelta(days=policy.result_overdue_after_days + 1)
    active = patient.status == "active"
    for d in patient.draws:
        if d.collected_on is not None:
            yield d.collected_on, "draw dated ahead"  # rules 4-5 count a draw from its day
            if active and d.status == "collected" and d.result is None:
                yield d.collected_on + overdue_after, "result overdue"
    if due is not None:
        # Rule 5: the draw_due window opens; the draw turns overdue.
        yield due.on - timedelta(days=policy.draw_due_lookahead_days), "draw due window"
        yield due.on + timedelta(days=policy.draw_overdue_after_days + 1), "draw overdue"
        # Rule 4 alignment: the due date sits on the closest appointment near the computed
        # date until that appointment has passed. Another appointment passing first changes
        # nothing (the closest of fewer candidates that still hold it is the same one).
        if due.appointment is not None:
            yield due.appointment.date + timedelta(days=1), "appointment passes"


# Wording helpers ----------------------------------------------------------------------------


def format_vaf(vaf_percent: float) -> str:
    """VAF without trailing zeros: 0.4 -> "0.4", 2.0 -> "2", 0.125 -> "0.125".

    Four decimals is finer than any ctDNA assay reports; a positive VAF below that still
    shows as present rather than as 0."""
    text = f"{vaf_percent:.4f}".rstrip("0").rstrip(".")
    if text in ("0", "-0") and vaf_percent > 0:
        return "<0.0001"
    return text


def format_vaf_percent(vaf_percent: float | None) -> str:
    """ "0.4%", or what to say when the laboratory reported the variant without a VAF."""
    if vaf_percent is None:
        return "VAF not reported"
    return f"{format_vaf(vaf_percent)}%"


def _activating(result: ResultIn) -> list[VariantIn]:
    return [v for v in result.variants if v.esr1_activating]


def _variants_title(finding: _Finding) -> str:
    variants = _activating(finding.result)
    if not variants:
        return "ESR1 mutation"
    return "ESR1 " + " + ".join(
        f"{v.short} ({format_vaf_percent(v.vaf_percent)})" for v in variants
    )


def _variants_inline(result: ResultIn) -> str:
    variants = _activating(result)
    if not variants:
        return "ESR1 mutation (variant not listed)"
    return "ESR1 " + ", ".join(f"{v.short} {format_vaf_percent(v.vaf_percent)}" for v in variants)


def _assay_label(assay: str | None) -> str:
    if assay is None:
        return "assay not recorded"
    return _ASSAY_LABELS.get(assay, assay)


def _draw_phrase(draw: DrawIn) -> str:
    collected = _iso(draw.collected_on) or "date not recorded"
    return f"draw {draw.id} collected {collected}, {_assay_label(draw.assay)}"


def _finding_sentence(finding: _Finding) -> str:
    result = finding.result
    return (
        f"{_variants_inline(result)} in result {result.id}"
        f" (reported {result.reported_on.isoformat()}, {_draw_phrase(finding.draw)})."
    )


def _earlier_sentence(findings: list[_Finding]) -> str:
    if not findings:
        return ""
    parts = [
        f"result {f.result.id} (collected {_iso(f.draw.collected_on)}:"
        f" {_variants_inline(f.result).removeprefix('ESR1 ')})"
        for f in reversed(findings)
    ]
    return " Earlier positive: " + "; ".join(parts) + "."


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _variant_evidence(variant: VariantIn, finding: _Finding) -> dict:
    return {
        "short": variant.short,
        "protein_change": variant.protein_change,
        # float(): the ORM may hand over a Decimal, which json.dumps refuses.
        "vaf_percent": None if variant.vaf_percent is None else float(variant.vaf_percent),
        "result_id": finding.result.id,
        "collected_on": _iso(finding.draw.collected_on),
    }


def _esr1_evidence(ctx: _Context, findings: list[_Finding], *, rule: str) -> dict:
    return {
        "result_ids": [f.result.id for f in findings],
        "draw_ids": [f.draw.id for f in findings],
        "variants": [_variant_evidence(v, f) for f in findings for v in _activating(f.result)],
        "dates": {
            "treatment_start": ctx.treatment.start_date.isoformat(),
            "first_collected_on": _iso(findings[0].draw.collected_on),
            "latest_collected_on": _iso(findings[-1].draw.collected_on),
            "latest_reported_on": findings[-1].result.reported_on.isoformat(),
        },
        "treatment_id": ctx.treatment.id,
        "rule": rule,
        "policy_version": ctx.policy.version,
    }

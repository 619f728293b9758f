"""Properties of the surveillance rules over random, valid-shaped patients.

Dates are generated relative to a fixed TODAY so shrunk examples read like clinic data.
"""

import json
import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from surveillance.rules import (
    AROMATASE_INHIBITORS,
    CDK46_INHIBITORS,
    SERDS,
    SEVERITY_BY_KIND,
    AlertIn,
    AppointmentIn,
    AssessmentIn,
    DrawIn,
    PatientIn,
    Policy,
    ResultIn,
    TreatmentIn,
    VariantIn,
    evaluate,
)

TODAY = date(2026, 6, 15)
POLICY = Policy()
SITES = (
    "bone",
    "lymph_node",
    "liver",
    "lung",
    "pleura",
    "peritoneum",
    "brain",
    "soft_tissue",
    "skin",
    "other",
)
VARIANTS = (
    VariantIn("ESR1", "p.Asp538Gly", "D538G", 0.4, esr1_activating=True, esr1_vus=False),
    VariantIn("ESR1", "p.Tyr537Ser", "Y537S", 1.25, esr1_activating=True, esr1_vus=False),
    VariantIn("ESR1", "p.Glu380Gln", "E380Q", 0.05, esr1_activating=True, esr1_vus=False),
    VariantIn("ESR1", "p.Ala593Asp", "A593D", 2.0, esr1_activating=False, esr1_vus=True),
    VariantIn("PIK3CA", "p.His1047Arg", "H1047R", 8.0, esr1_activating=False, esr1_vus=False),
)
PATIENT_LEVEL_ONLY_FOR_ELIGIBLE = {"esr1_switch", "draw_due", "draw_overdue", "redraw_needed"}


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def days(lo: int, hi: int):
    return st.integers(lo, hi).map(day)


# Weighted towards the surveillance regimen so that plenty of examples are eligible.
endocrine_therapies = st.sampled_from(
    sorted(AROMATASE_INHIBITORS) * 3 + sorted(SERDS) + ["tamoxifen", None]
)
cdk46_inhibitors = st.sampled_from(sorted(CDK46_INHIBITORS) * 3 + [None])


@st.composite
def treatments(draw, treatment_id: int):
    start = draw(days(-500, 5))
    length = draw(st.one_of(st.none(), st.integers(1, 400)))
    end = None if length is None else start + timedelta(days=length)
    return TreatmentIn(
        id=treatment_id,
        line_number=draw(st.sampled_from([1, 1, 1, 2, 3])),
        setting=draw(st.sampled_from(["metastatic"] * 5 + ["adjuvant"])),
        endocrine_therapy=draw(endocrine_therapies),
        cdk46_inhibitor=draw(cdk46_inhibitors),
        start_date=start,
        end_date=end,
        end_reason=None if end is None else "other",
    )


@st.composite
def results(draw, result_id: int, collected_on: date):
    failed = draw(st.integers(0, 4)) == 0
    variants = tuple(draw(st.lists(st.sampled_from(VARIANTS), max_size=3, unique=True)))
    if failed:
        status, esr1_status, variants = "failed", "failed", ()
    else:
        detected = any(v.esr1_activating for v in variants)
        status, esr1_status = "final", "detected" if detected else "not_detected"
    return ResultIn(
        id=result_id,
        reported_on=collected_on + timedelta(days=draw(st.integers(0, 30))),
        status=status,
        esr1_status=esr1_status,
        variants=variants,
    )


@st.composite
def draws(draw, draw_id: int):
    status = draw(st.sampled_from(["planned", "collected", "resulted", "resulted", "cancelled"]))
    if status == "planned":
        return DrawIn(
            id=draw_id,
            status="planned",
            due_date=draw(days(-40, 120)),
            pinned=draw(st.booleans()),
        )
    collected_on = draw(days(-500, 3))
    result = None
    if status == "resulted" or (status == "cancelled" and draw(st.booleans())):
        result = draw(results(100 + draw_id, collected_on))
    return DrawIn(
        id=draw_id,
        status=status,
        collected_on=collected_on,
        due_date=draw(st.one_of(st.none(), days(-500, 3))),
        assay=draw(st.sampled_from(["guardant360_cdx", "ddpcr_esr1", "other", None])),
        result=result,
    )


@st.composite
def patients(draw):
    n_treatments = draw(st.integers(0, 3))
    patient_treatments = tuple(draw(treatments(i + 1)) for i in range(n_treatments))

    assessments = tuple(
        AssessmentIn(id=i + 1, date=on, response=response)
        for i, (on, response) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        days(-500, 30), st.sampled_from(["CR", "PR", "SD", "SD", "PD", "NE"])
                    ),
                    max_size=3,
                )
            )
        )
    )
    appointments = tuple(
        AppointmentIn(id=i + 1, date=on, kind=kind)
        for i, (on, kind) in enumerate(
            draw(
                st.lists(
                    st.tuples(days(-30, 150), st.sampled_from(["clinic", "imaging"])), max_size=4
                )
            )
        )
    )
    n_draws = draw(st.integers(0, 4))
    patient_draws = tuple(draw(draws(i + 1)) for i in range(n_draws))

    result_ids = [d.result.id for d in patient_draws if d.result is not None]
    alerts = ()
    if result_ids:
        alerts = tuple(
            AlertIn(
                id=i + 1,
                kind=kind,
                status="open" if decision is None else "resolved",
                decision=decision,
                result_ids=frozenset(ids),
            )
            for i, (kind, decision, ids) in enumerate(
                draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(
                                ["esr1_switch", "esr1_at_progression", "esr1_vus_review"]
                            ),
                            st.sampled_from(
                                [None, "switched", "repeat_test", "deferred", "dismissed"]
                            ),
                            st.sets(st.sampled_from(result_ids), min_size=1),
                        ),
                        max_size=3,
                    )
                )
            )
        )

    return PatientIn(
        id=draw(st.integers(1, 10_000)),
        status=draw(st.sampled_from(["active"] * 4 + ["inactive", "deceased"])),
        er_status=draw(st.sampled_from(["positive"] * 4 + ["negative", "unknown"])),
        pr_status=draw(st.sampled_from(["positive", "negative", "unknown"])),
        her2_status=draw(st.sampled_from(["negative"] * 4 + ["positive", "unknown"])),
        metastatic_sites=tuple(draw(st.lists(st.sampled_from(SITES), max_size=5))),
        prior_adjuvant_ai=draw(st.booleans()),
        high_tumour_burden=draw(st.booleans()),
        enrolled_on=draw(days(-500, 0)),
        treatments=patient_treatments,
        assessments=assessments,
        appointments=appointments,
        draws=patient_draws,
        alerts=alerts,
    )


def run(patient: PatientIn):
    return evaluate(patient, today=TODAY, policy=POLICY)


def surveillance_start(patient: PatientIn, treatment_id: int) -> date:
    return next(t.start_date for t in patient.treatments if t.id == treatment_id)


def pinned_due(patient: PatientIn) -> date | None:
    pinned = [d for d in patient.draws if d.status == "planned" and d.pinned and d.due_date]
    return max(pinned, key=lambda d: d.id).due_date if pinned else None


def usable_appointments(patient: PatientIn, near: date) -> list[date]:
    window = POLICY.alignment_window_days
    return [
        a.date
        for a in patient.appointments
        if a.date >= TODAY and abs((a.date - near).days) <= window
    ]


# How many examples comes from the Hypothesis profile (tests/conftest.py): quick locally,
# the full 300 in CI.
PROPERTY_SETTINGS = settings(deadline=None)


@PROPERTY_SETTINGS
@given(patients())
def test_evaluate_is_deterministic(patient):
    assert run(patient) == run(patient)


@PROPERTY_SETTINGS
@given(patients(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(patient, rnd: random.Random):
    def shuffled(items):
        items = list(items)
        rnd.shuffle(items)
        return tuple(items)

    reordered = patient._replace(
        treatments=shuffled(patient.treatments),
        assessments=shuffled(patient.assessments),
        appointments=shuffled(patient.appointments),
        draws=shuffled(patient.draws),
        alerts=shuffled(patient.alerts),
    )
    assert run(reordered) == run(patient)


@PROPERTY_SETTINGS
@given(patients())
def test_ineligible_patients_get_no_due_date_nor_switch_or_draw_alerts(patient):
    evaluation = run(patient)
    if evaluation.eligible:
        assert evaluation.surveillance_treatment_id is not None
        assert evaluation.next_due_on is not None
        return
    assert evaluation.next_due_on is None
    assert not {a.kind for a in evaluation.alerts} & PATIENT_LEVEL_ONLY_FOR_ELIGIBLE


@PROPERTY_SETTINGS
@given(patients())
def test_risk_level_follows_risk_factors(patient):
    evaluation = run(patient)
    if evaluation.surveillance_treatment_id is None:
        assert evaluation.risk_level is None
        assert evaluation.risk_factors == ()
    else:
        assert evaluation.risk_level == ("high" if evaluation.risk_factors else "standard")


@PROPERTY_SETTINGS
@given(patients())
def test_first_draw_is_the_floor_or_an_appointment_near_it(patient):
    evaluation = run(patient)
    if not evaluation.eligible or pinned_due(patient) is not None:
        return
    start = surveillance_start(patient, evaluation.surveillance_treatment_id)
    drawn_since_start = any(
        d.status in ("collected", "resulted")
        and d.collected_on is not None
        and start <= d.collected_on <= TODAY
        for d in patient.draws
    )
    if drawn_since_start:
        return
    floor = max(start + timedelta(days=POLICY.first_draw_after_days), patient.enrolled_on)
    due = evaluation.next_due_on
    assert due >= floor - timedelta(days=POLICY.alignment_window_days)
    if due != floor:
        assert due in usable_appointments(patient, floor)


@PROPERTY_SETTINGS
@given(patients())
def test_due_date_is_an_appointment_or_none_was_close_enough(patient):
    evaluation = run(patient)
    if not evaluation.eligible:
        return
    pinned = pinned_due(patient)
    if pinned is not None:
        assert evaluation.next_due_on == pinned
        return
    due = evaluation.next_due_on
    appointment_dates = {a.date for a in patient.appointments if a.date >= TODAY}
    # Either it moved to a usable appointment, or no usable appointment lay within the window.
    assert due in appointment_dates or not usable_appointments(patient, due)


@PROPERTY_SETTINGS
@given(patients())
def test_draw_due_and_overdue_partition_the_past(patient):
    evaluation = run(patient)
    found = {a.kind for a in evaluation.alerts}
    assert not {"draw_due", "draw_overdue"} <= found
    if evaluation.eligible:
        due_soon_or_late = evaluation.next_due_on <= day(POLICY.draw_due_lookahead_days)
        assert due_soon_or_late == bool(found & {"draw_due", "draw_overdue"})


@PROPERTY_SETTINGS
@given(patients())
def test_alerts_are_unique_well_formed_and_json(patient):
    evaluation = run(patient)
    pairs = [(a.kind, a.subject) for a in evaluation.alerts]
    assert len(pairs) == len(set(pairs))
    for spec in evaluation.alerts:
        assert spec.severity == SEVERITY_BY_KIND[spec.kind]
        assert spec.title
        assert spec.rationale
        json.dumps(spec.evidence)
        assert spec.evidence["rule"] == f"5.{spec.kind}"


@PROPERTY_SETTINGS
@given(patients())
def test_esr1_alerts_cover_only_undecided_detected_results(patient):
    evaluation = run(patient)
    detected = {
        d.result.id
        for d in patient.draws
        if d.result is not None and d.result.esr1_status == "detected" and d.status != "cancelled"
    }
    decided_switch = set().union(
        *(a.result_ids for a in patient.alerts if a.kind == "esr1_switch" and a.decision)
    )
    any_switch = set().union(*(a.result_ids for a in patient.alerts if a.kind == "esr1_switch"))
    for spec in evaluation.alerts:
        if spec.kind == "esr1_switch":
            assert spec.result_ids
            assert spec.result_ids <= detected
            assert not spec.result_ids & decided_switch
            assert sorted(spec.evidence["result_ids"]) == sorted(spec.result_ids)
        elif spec.kind == "esr1_at_progression":
            assert spec.result_ids
            assert spec.result_ids <= detected
            assert not spec.result_ids & any_switch
            assert not evaluation.eligible
        elif spec.kind == "esr1_vus_review":
            assert spec.subject == f"result:{next(iter(spec.result_ids))}"
            assert len(spec.result_ids) == 1
            assert not spec.result_ids & detected


# The incremental nightly run (surveillance/engine.py) evaluates a patient again only from the
# verdict's next_change on: this is what makes that safe. Days are checked one by one up to
# next_change, or over HORIZON_DAYS when nothing is due to change.
HORIZON_DAYS = 400


def evaluate_on(patient: PatientIn, on: date):
    # As the engine loads them: appointments before the evaluation day are not read.
    loaded = patient._replace(appointments=tuple(a for a in patient.appointments if a.date >= on))
    return evaluate(loaded, today=on, policy=POLICY)


@PROPERTY_SETTINGS
@given(patients())
def test_verdict_stays_the_same_on_every_day_before_next_change(patient):
    verdict = run(patient)
    last = verdict.next_change or day(HORIZON_DAYS)
    assert verdict.next_change is None or verdict.next_change > TODAY
    on = TODAY + timedelta(days=1)
    while on < last:
        assert evaluate_on(patient, on) == verdict, f"verdict changed on {on}, before {last}"
        on += timedelta(days=1)

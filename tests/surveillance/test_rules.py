"""SPEC section 5 rules at their boundaries, with a fixed "today".

Pure data in, decisions out: no database, so every case builds its patient by hand.
"""

import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from surveillance.rules import (
    RULE_NAMES,
    SEVERITY_BY_KIND,
    AlertIn,
    AppointmentIn,
    AssessmentIn,
    DrawIn,
    Evaluation,
    PatientIn,
    Policy,
    ResultIn,
    TreatmentIn,
    VariantIn,
    evaluate,
    format_vaf,
    risk_factor_label,
)

TODAY = date(2026, 6, 15)
POLICY = Policy()
# 100 days on treatment, bone only: eligible, standard risk, nothing due soon.
START = TODAY - timedelta(days=100)

PROTEIN = {
    "D538G": "p.Asp538Gly",
    "Y537S": "p.Tyr537Ser",
    "Y537N": "p.Tyr537Asn",
    "E380Q": "p.Glu380Gln",
    "A593D": "p.Ala593Asp",
    "L536F": "p.Leu536Phe",
}
ACTIVATING = {"D538G", "Y537S", "Y537N", "E380Q"}


# --- builders --------------------------------------------------------------------------------


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def ahead(days: int) -> date:
    return TODAY + timedelta(days=days)


def first_line(start: date = START, **overrides) -> TreatmentIn:
    fields = {
        "id": 1,
        "line_number": 1,
        "setting": "metastatic",
        "endocrine_therapy": "letrozole",
        "cdk46_inhibitor": "palbociclib",
        "start_date": start,
    }
    return TreatmentIn(**(fields | overrides))


def make_patient(**overrides) -> PatientIn:
    fields = {
        "id": 7,
        "status": "active",
        "er_status": "positive",
        "pr_status": "positive",
        "her2_status": "negative",
        "metastatic_sites": ("bone",),
        "prior_adjuvant_ai": False,
        "high_tumour_burden": False,
        "enrolled_on": START,
        "treatments": (first_line(),),
    }
    return PatientIn(**(fields | overrides))


def variant(short: str = "D538G", vaf: float = 0.4) -> VariantIn:
    return VariantIn(
        gene="ESR1",
        protein_change=PROTEIN[short],
        short=short,
        vaf_percent=vaf,
        esr1_activating=short in ACTIVATING,
        esr1_vus=short not in ACTIVATING,
    )


def result(result_id: int, reported_on: date, *variants: VariantIn, failed=False) -> ResultIn:
    if failed:
        status, esr1_status = "failed", "failed"
    else:
        detected = any(v.esr1_activating for v in variants)
        status, esr1_status = "final", "detected" if detected else "not_detected"
    return ResultIn(
        id=result_id,
        reported_on=reported_on,
        status=status,
        esr1_status=esr1_status,
        variants=tuple(variants),
    )


def draw(draw_id: int, collected_on: date | None, res: ResultIn | None = None, **kw) -> DrawIn:
    status = kw.pop("status", "resulted" if res is not None else "collected")
    assay = kw.pop("assay", "guardant360_cdx")
    return DrawIn(
        id=draw_id, status=status, collected_on=collected_on, assay=assay, result=res, **kw
    )


def positive_draw(draw_id: int, collected_on: date, *variants: VariantIn) -> DrawIn:
    """A resulted draw whose result (id = draw id + 100) is ESR1-detected, reported 5 days on."""
    variants = variants or (variant(),)
    res = result(draw_id + 100, collected_on + timedelta(days=5), *variants)
    return draw(draw_id, collected_on, res)


def alert(alert_id: int, kind: str, *result_ids: int, decision: str | None = None) -> AlertIn:
    return AlertIn(
        id=alert_id,
        kind=kind,
        status="open" if decision is None else "resolved",
        decision=decision,
        result_ids=frozenset(result_ids),
    )


def run(patient: PatientIn, *, today: date = TODAY, policy: Policy = POLICY) -> Evaluation:
    return evaluate(patient, today=today, policy=policy)


def alerts_of(evaluation: Evaluation, kind: str):
    return [a for a in evaluation.alerts if a.kind == kind]


def kinds(evaluation: Evaluation) -> set[str]:
    return {a.kind for a in evaluation.alerts}


def only(evaluation: Evaluation, kind: str):
    found = alerts_of(evaluation, kind)
    assert len(found) == 1, f"expected one {kind}, got {evaluation.alerts}"
    return found[0]


# --- rule 1: surveillance treatment ----------------------------------------------------------


def test_eligible_patient_reason_names_regimen_and_start():
    evaluation = run(make_patient())

    assert evaluation.eligible
    assert evaluation.reason == f"First-line letrozole + palbociclib since {START.isoformat()}"
    assert evaluation.surveillance_treatment_id == 1
    assert evaluation.patient_id == 7


def test_treatment_starting_today_is_current():
    evaluation = run(make_patient(treatments=(first_line(TODAY),), enrolled_on=TODAY))
    assert evaluation.eligible
    assert evaluation.surveillance_treatment_id == 1


def test_treatment_starting_tomorrow_is_not_current():
    evaluation = run(make_patient(treatments=(first_line(ahead(1)),)))
    assert not evaluation.eligible
    assert evaluation.reason == "no current treatment"
    assert evaluation.surveillance_treatment_id is None


def test_treatment_ending_today_is_over_and_ending_tomorrow_is_current():
    ended = run(make_patient(treatments=(first_line(end_date=TODAY, end_reason="toxicity"),)))
    ongoing = run(make_patient(treatments=(first_line(end_date=ahead(1)),)))

    assert not ended.eligible
    assert ended.reason == "no current treatment"
    assert ongoing.eligible


def test_switch_on_the_same_day_hands_over_to_the_new_treatment():
    old = first_line(end_date=TODAY, end_reason="esr1_switch")
    new = first_line(TODAY, id=2, endocrine_therapy="camizestrant")
    evaluation = run(make_patient(treatments=(old, new)))

    assert not evaluation.eligible
    assert evaluation.reason == "on a SERD"
    assert evaluation.surveillance_treatment_id is None


def test_overlapping_treatments_latest_start_decides():
    # Bad data: an ESR1 switch recorded without ending the AI. What the patient takes now wins.
    old = first_line()
    new = first_line(ago(10), id=2, endocrine_therapy="fulvestrant")
    assert run(make_patient(treatments=(old, new))).reason == "on a SERD"

    older = first_line(ago(300), id=3)
    evaluation = run(make_patient(treatments=(older, old)))
    assert evaluation.eligible
    assert evaluation.surveillance_treatment_id == 1


def test_ended_earlier_treatments_do_not_matter():
    adjuvant = first_line(ago(900), id=5, setting="adjuvant", end_date=ago(500))
    evaluation = run(make_patient(treatments=(adjuvant, first_line())))
    assert evaluation.eligible


@pytest.mark.parametrize("ai", ["letrozole", "anastrozole", "exemestane"])
@pytest.mark.parametrize("cdk", ["palbociclib", "ribociclib", "abemaciclib"])
def test_every_ai_and_cdk46_combination_qualifies(ai, cdk):
    treatment = first_line(endocrine_therapy=ai, cdk46_inhibitor=cdk)
    assert run(make_patient(treatments=(treatment,))).eligible


# --- rule 2: eligibility and the reason shown ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"status": "inactive"}, "patient inactive"),
        ({"status": "deceased"}, "patient deceased"),
        ({"er_status": "negative", "pr_status": "negative"}, "hormone-receptor negative"),
        ({"er_status": "unknown", "pr_status": "negative"}, "hormone-receptor status unknown"),
        ({"her2_status": "positive"}, "HER2-positive"),
        ({"treatments": ()}, "no current treatment"),
    ],
)
def test_patient_level_ineligibility_reasons(overrides, reason):
    evaluation = run(make_patient(**overrides))

    assert not evaluation.eligible
    assert evaluation.reason == reason
    assert evaluation.next_due_on is None


def test_patient_level_reasons_keep_the_rule_one_treatment_and_risk():
    evaluation = run(make_patient(her2_status="positive"))
    assert evaluation.surveillance_treatment_id == 1
    assert evaluation.risk_level == "standard"


@pytest.mark.parametrize(
    ("treatment", "reason"),
    [
        (first_line(endocrine_therapy="fulvestrant"), "on a SERD"),
        (first_line(endocrine_therapy="camizestrant", line_number=2), "on a SERD"),
        (first_line(line_number=2), "second-line"),
        (first_line(line_number=3), "later line (3)"),
        (first_line(cdk46_inhibitor=None), "no CDK4/6 inhibitor"),
        (first_line(endocrine_therapy="tamoxifen"), "not on an aromatase inhibitor"),
        (first_line(endocrine_therapy=None), "not on an aromatase inhibitor"),
        (first_line(setting="adjuvant"), "adjuvant setting"),
    ],
)
def test_treatment_ineligibility_reasons(treatment, reason):
    evaluation = run(make_patient(treatments=(treatment,)))

    assert not evaluation.eligible
    assert evaluation.reason == reason
    assert evaluation.surveillance_treatment_id is None
    assert evaluation.risk_level is None
    assert evaluation.risk_factors == ()
    assert evaluation.next_due_on is None


def test_either_hormone_receptor_positive_is_enough_and_unknown_her2_is_not_positive():
    assert run(make_patient(er_status="negative", pr_status="positive")).eligible
    assert run(make_patient(er_status="positive", pr_status="unknown")).eligible
    assert run(make_patient(her2_status="unknown")).eligible


def test_most_informative_reason_comes_first():
    patient = make_patient(
        status="inactive", her2_status="positive", treatments=(first_line(line_number=2),)
    )
    assert run(patient).reason == "patient inactive"
    assert run(patient._replace(status="active")).reason == "HER2-positive"


@pytest.mark.parametrize(
    ("pd_on", "eligible"),
    [
        (START - timedelta(days=1), True),  # before the treatment: the reason it was started
        (START, False),
        (ago(10), False),
        (TODAY, False),
        (ahead(1), True),  # not yet documented as of today
    ],
)
def test_progression_window_is_treatment_start_to_today_inclusive(pd_on, eligible):
    patient = make_patient(assessments=(AssessmentIn(id=1, date=pd_on, response="PD"),))
    evaluation = run(patient)

    assert evaluation.eligible is eligible
    if not eligible:
        assert evaluation.reason == f"progression documented {pd_on.isoformat()}"
        assert evaluation.next_due_on is None


def test_progression_reason_names_earliest_pd_and_keeps_rule_one_treatment():
    assessments = (
        AssessmentIn(id=1, date=ago(5), response="PD"),
        AssessmentIn(id=2, date=ago(30), response="PD"),
        AssessmentIn(id=3, date=ago(60), response="SD"),
    )
    evaluation = run(make_patient(assessments=assessments))

    assert evaluation.reason == f"progression documented {ago(30).isoformat()}"
    assert evaluation.surveillance_treatment_id == 1
    assert evaluation.risk_level == "standard"


@pytest.mark.parametrize("response", ["CR", "PR", "SD", "NE"])
def test_other_responses_do_not_end_eligibility(response):
    patient = make_patient(assessments=(AssessmentIn(id=1, date=ago(5), response=response),))
    assert run(patient).eligible


# --- rule 3: risk level ----------------------------------------------------------------------


def test_no_risk_factor_is_standard():
    evaluation = run(make_patient(metastatic_sites=("bone", "lymph_node")))
    assert evaluation.risk_level == "standard"
    assert evaluation.risk_factors == ()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"prior_adjuvant_ai": True}, "prior_adjuvant_ai"),
        ({"metastatic_sites": ("liver",)}, "visceral_metastases"),
        ({"metastatic_sites": ("lung",)}, "visceral_metastases"),
        ({"metastatic_sites": ("pleura",)}, "visceral_metastases"),
        ({"metastatic_sites": ("peritoneum",)}, "visceral_metastases"),
        ({"metastatic_sites": ("brain",)}, "visceral_metastases"),
        ({"metastatic_sites": ("bone", "lymph_node", "skin")}, "three_or_more_sites"),
        ({"high_tumour_burden": True}, "high_tumour_burden"),
        ({"treatments": (first_line(ago(182)),)}, "182_days_on_treatment"),
    ],
)
def test_each_risk_factor_alone_makes_risk_high(overrides, code):
    evaluation = run(make_patient(**overrides))
    assert evaluation.risk_level == "high"
    assert evaluation.risk_factors == (code,)


def test_duplicate_sites_count_once():
    evaluation = run(make_patient(metastatic_sites=("bone", "bone", "skin")))
    assert evaluation.risk_level == "standard"


@pytest.mark.parametrize(("days", "level"), [(181, "standard"), (182, "high"), (183, "high")])
def test_days_on_treatment_boundary(days, level):
    evaluation = run(make_patient(treatments=(first_line(ago(days)),)))
    assert evaluation.risk_level == level


def test_risk_factors_are_listed_in_stable_order():
    patient = make_patient(
        prior_adjuvant_ai=True,
        metastatic_sites=("liver", "bone", "lung"),
        high_tumour_burden=True,
        treatments=(first_line(ago(400)),),
    )
    assert run(patient).risk_factors == (
        "prior_adjuvant_ai",
        "visceral_metastases",
        "three_or_more_sites",
        "high_tumour_burden",
        "182_days_on_treatment",
    )


def test_risk_thresholds_come_from_the_policy():
    policy = Policy(version=2, high_risk_days_on_treatment=90, high_risk_min_sites=2)
    evaluation = run(make_patient(metastatic_sites=("bone", "skin")), policy=policy)

    # The codes stay stable when the numbers change; only the wording follows the policy.
    assert evaluation.risk_factors == ("three_or_more_sites", "182_days_on_treatment")
    assert risk_factor_label("182_days_on_treatment", policy) == "90+ days on treatment"
    assert risk_factor_label("three_or_more_sites", policy) == "2 or more metastatic sites"


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("prior_adjuvant_ai", "prior adjuvant AI"),
        ("visceral_metastases", "visceral metastases"),
        ("three_or_more_sites", "3 or more metastatic sites"),
        ("high_tumour_burden", "high tumour burden"),
        ("182_days_on_treatment", "182+ days on treatment"),
    ],
)
def test_risk_factor_labels(code, label):
    assert risk_factor_label(code, POLICY) == label


# --- rule 4: next due date -------------------------------------------------------------------


@pytest.mark.parametrize("days_on_treatment", [55, 56, 57])
def test_first_draw_is_due_56_days_after_start(days_on_treatment):
    start = ago(days_on_treatment)
    evaluation = run(make_patient(treatments=(first_line(start),), enrolled_on=start))
    assert evaluation.next_due_on == start + timedelta(days=56)


def test_late_enrolment_moves_the_first_draw_to_enrolment():
    enrolled = START + timedelta(days=57)
    assert run(make_patient(enrolled_on=enrolled)).next_due_on == enrolled

    enrolled_early = START + timedelta(days=55)
    assert run(make_patient(enrolled_on=enrolled_early)).next_due_on == START + timedelta(56)


@pytest.mark.parametrize(
    ("overrides", "interval"),
    [({}, 84), ({"prior_adjuvant_ai": True}, 56), ({"metastatic_sites": ("liver",)}, 56)],
)
def test_interval_after_a_draw_depends_on_risk(overrides, interval):
    collected = ago(30)
    patient = make_patient(draws=(draw(1, collected, result(11, ago(25))),), **overrides)
    assert run(patient).next_due_on == collected + timedelta(days=interval)


def test_collected_draw_without_result_still_counts_as_last():
    patient = make_patient(draws=(draw(1, ago(10)),))
    assert run(patient).next_due_on == ago(10) + timedelta(days=84)


def test_most_recent_collected_draw_is_last():
    draws = (
        draw(1, ago(90), result(11, ago(85))),
        draw(2, ago(5), result(12, ago(1))),
        draw(3, ago(40), result(13, ago(35))),
    )
    assert run(make_patient(draws=draws)).next_due_on == ago(5) + timedelta(days=84)


def test_draws_before_treatment_start_are_ignored():
    patient = make_patient(draws=(draw(1, START - timedelta(days=1), result(11, START)),))
    assert run(patient).next_due_on == START + timedelta(days=56)


def test_draw_on_the_start_day_counts():
    patient = make_patient(draws=(draw(1, START, result(11, START + timedelta(days=4))),))
    assert run(patient).next_due_on == START + timedelta(days=84)


def test_cancelled_and_planned_draws_are_not_last():
    draws = (
        draw(1, ago(10), result(11, ago(5)), status="cancelled"),
        DrawIn(id=2, status="planned", due_date=ahead(3)),
    )
    assert run(make_patient(draws=draws)).next_due_on == START + timedelta(days=56)


def test_draws_dated_after_today_are_not_known_yet():
    patient = make_patient(draws=(draw(1, ahead(2)),))
    assert run(patient).next_due_on == START + timedelta(days=56)


def test_failed_result_asks_for_a_redraw_14_days_after_the_report():
    failed = draw(1, ago(20), result(11, ago(12), failed=True))
    evaluation = run(make_patient(draws=(failed,)))

    assert evaluation.next_due_on == ago(12) + timedelta(days=14)
    redraw = only(evaluation, "redraw_needed")
    assert redraw.severity == "medium"
    assert redraw.subject == ""
    assert "Result 11" in redraw.rationale
    assert ago(20).isoformat() in redraw.rationale
    assert redraw.evidence["draw_ids"] == [1]
    assert redraw.evidence["result_ids"] == [11]


def test_failed_result_followed_by_a_good_one_needs_no_redraw():
    draws = (
        draw(1, ago(40), result(11, ago(35), failed=True)),
        draw(2, ago(20), result(12, ago(15))),
    )
    evaluation = run(make_patient(draws=draws))

    assert evaluation.next_due_on == ago(20) + timedelta(days=84)
    assert "redraw_needed" not in kinds(evaluation)


# Alignment: the unaligned due date here is START + 84 days from a draw 30 days ago.
ALIGN_DUE = ago(30) + timedelta(days=84)


def aligned_due(*appointment_dates: date) -> date:
    appointments = tuple(
        AppointmentIn(id=i, date=on, kind="clinic") for i, on in enumerate(appointment_dates, 1)
    )
    patient = make_patient(
        draws=(draw(1, ago(30), result(11, ago(25))),), appointments=appointments
    )
    return run(patient).next_due_on


@pytest.mark.parametrize(
    ("offset", "moves"),
    [(-15, False), (-14, True), (-13, True), (13, True), (14, True), (15, False)],
)
def test_alignment_window_is_14_days_either_side(offset, moves):
    appointment = ALIGN_DUE + timedelta(days=offset)
    assert aligned_due(appointment) == (appointment if moves else ALIGN_DUE)


def test_alignment_picks_the_closest_appointment():
    near = ALIGN_DUE + timedelta(days=3)
    assert aligned_due(ALIGN_DUE + timedelta(days=10), near, ALIGN_DUE - timedelta(days=9)) == near


def test_alignment_tie_picks_the_earlier_appointment():
    before = ALIGN_DUE - timedelta(days=5)
    after = ALIGN_DUE + timedelta(days=5)
    assert aligned_due(after, before) == before


def test_alignment_ignores_appointments_before_today():
    # Due 3 days ago: a past appointment closer to it is not a usable slot; today is.
    patient_draws = (draw(1, ago(87), result(11, ago(80))),)
    due = ago(3)
    appointments = (
        AppointmentIn(id=1, date=ago(2), kind="clinic"),
        AppointmentIn(id=2, date=TODAY, kind="imaging"),
    )
    patient = make_patient(draws=patient_draws, appointments=appointments)
    assert run(patient).next_due_on == TODAY

    only_past = make_patient(draws=patient_draws, appointments=appointments[:1])
    assert run(only_past).next_due_on == due


def test_alignment_is_named_in_the_draw_due_rationale():
    patient = make_patient(
        draws=(draw(1, ago(80), result(11, ago(75))),),
        appointments=(AppointmentIn(id=1, date=ahead(6), kind="imaging"),),
    )
    evaluation = run(patient)

    assert evaluation.next_due_on == ahead(6)
    due = only(evaluation, "draw_due")
    assert f"moved from {ahead(4).isoformat()} to the imaging appointment" in due.rationale
    assert due.evidence["dates"]["appointment_on"] == ahead(6).isoformat()
    assert due.evidence["dates"]["computed_on"] == ahead(4).isoformat()


def test_pinned_repeat_test_draw_keeps_its_date_without_alignment():
    pinned = DrawIn(id=9, status="planned", due_date=ahead(30), pinned=True)
    patient = make_patient(
        draws=(draw(1, ago(30), result(11, ago(25))), pinned),
        appointments=(AppointmentIn(id=1, date=ahead(32), kind="clinic"),),
    )
    assert run(patient).next_due_on == ahead(30)


def test_unpinned_planned_draw_does_not_fix_the_date():
    planned = DrawIn(id=9, status="planned", due_date=ahead(30))
    assert run(make_patient(draws=(planned,))).next_due_on == START + timedelta(days=56)


def test_pinned_draw_stops_pinning_once_collected():
    collected = DrawIn(id=9, status="collected", due_date=ago(3), collected_on=ago(2), pinned=True)
    assert run(make_patient(draws=(collected,))).next_due_on == ago(2) + timedelta(days=84)


def test_due_date_uses_policy_numbers():
    policy = Policy(version=3, first_draw_after_days=28, alignment_window_days=0)
    patient = make_patient(
        appointments=(AppointmentIn(id=1, date=START + timedelta(29), kind="clinic"),)
    )
    evaluation = run(patient, today=START + timedelta(days=20), policy=policy)
    assert evaluation.next_due_on == START + timedelta(days=28)


# --- rule 5: draw logistics alerts -----------------------------------------------------------


def patient_due_on(due: date, **overrides) -> PatientIn:
    """A standard-risk patient whose next draw is due on `due` (84 days after the last)."""
    last = due - timedelta(days=84)
    return make_patient(
        treatments=(first_line(last - timedelta(days=10)),),
        draws=(draw(1, last, result(11, last + timedelta(days=5))),),
        **overrides,
    )


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (ahead(8), set()),
        (ahead(7), {"draw_due"}),
        (TODAY, {"draw_due"}),
        (ago(14), {"draw_due"}),
        (ago(15), {"draw_overdue"}),
    ],
)
def test_draw_due_and_overdue_windows(due, expected):
    evaluation = run(patient_due_on(due))
    assert evaluation.next_due_on == due
    assert kinds(evaluation) == expected


def test_draw_due_and_overdue_alert_contents():
    due = only(run(patient_due_on(ahead(3))), "draw_due")
    assert (due.severity, due.subject) == ("low", "")
    assert ahead(3).isoformat() in due.title
    assert due.rationale.startswith(f"Next ctDNA draw due {ahead(3).isoformat()}: ")
    assert "+ 84 days (standard risk)" in due.rationale
    assert due.evidence["rule"] == "5.draw_due"

    overdue = only(run(patient_due_on(ago(20))), "draw_overdue")
    assert (overdue.severity, overdue.subject) == ("medium", "")
    assert overdue.title == f"ctDNA draw overdue (due {ago(20).isoformat()})"
    # Words that name dates rather than count days stay true from one day to the next.
    later = run(patient_due_on(ago(20)), today=TODAY + timedelta(days=9))
    assert only(later, "draw_overdue") == overdue
    assert overdue.evidence["dates"]["due_on"] == ago(20).isoformat()


def test_first_draw_overdue_after_late_data_entry():
    # Enrolled long ago but never drawn: due start + 56, now well past.
    patient = make_patient(treatments=(first_line(ago(120)),), enrolled_on=ago(120))
    evaluation = run(patient)
    assert evaluation.next_due_on == ago(64)
    assert "draw_overdue" in kinds(evaluation)


@pytest.mark.parametrize(("days_ago", "alerted"), [(14, False), (15, True)])
def test_result_overdue_after_14_days(days_ago, alerted):
    evaluation = run(make_patient(draws=(draw(4, ago(days_ago), assay="ddpcr_esr1"),)))
    overdue = alerts_of(evaluation, "result_overdue")
    if not alerted:
        assert overdue == []
        return
    assert len(overdue) == 1
    assert (overdue[0].severity, overdue[0].subject) == ("low", "draw:4")
    assert "ESR1 ddPCR" in overdue[0].rationale
    assert overdue[0].evidence["draw_ids"] == [4]


def test_result_overdue_for_active_patient_even_when_ineligible_but_not_when_inactive():
    waiting = (draw(4, ago(20)), draw(5, ago(30)))
    ineligible = run(make_patient(her2_status="positive", draws=waiting))
    assert [a.subject for a in alerts_of(ineligible, "result_overdue")] == ["draw:5", "draw:4"]
    assert alerts_of(run(make_patient(status="inactive", draws=waiting)), "result_overdue") == []


def test_resulted_and_cancelled_draws_are_not_awaiting_results():
    draws = (draw(1, ago(40), result(11, ago(10))), draw(2, ago(40), status="cancelled"))
    assert alerts_of(run(make_patient(draws=draws)), "result_overdue") == []


def test_ineligible_patient_gets_no_draw_alerts():
    failed = draw(1, ago(40), result(11, ago(35), failed=True))
    for patient in (
        make_patient(draws=(failed,), her2_status="positive"),
        make_patient(draws=(failed,), assessments=(AssessmentIn(1, ago(2), "PD"),)),
        make_patient(draws=(failed,), treatments=(first_line(line_number=2),)),
    ):
        evaluation = run(patient)
        assert not kinds(evaluation) & {"draw_due", "draw_overdue", "redraw_needed"}


# --- rule 5: ESR1 switch ---------------------------------------------------------------------


def test_esr1_switch_title_and_rationale_name_the_evidence():
    positive = positive_draw(3, ago(20), variant("D538G", 0.4), variant("Y537S", 1.2))
    evaluation = run(make_patient(draws=(positive,)))

    switch = only(evaluation, "esr1_switch")
    assert (switch.severity, switch.subject) == ("high", "")
    assert switch.title == "ESR1 D538G (0.4%) + Y537S (1.2%) detected"
    assert switch.result_ids == frozenset({103})
    for text in (
        "result 103",
        f"reported {ago(15).isoformat()}",
        f"collected {ago(20).isoformat()}",
        "Guardant360 CDx",
        "D538G 0.4%",
        "Y537S 1.2%",
        "ESR1 mutation detected in ctDNA on first-line AI + CDK4/6 inhibitor without documented"
        " progression",
        "Rule: ESR1 mutation on first-line AI + CDK4/6 inhibitor before progression (policy v1).",
        "Consider switching the aromatase inhibitor to a SERD (camizestrant in SERENA-6) and"
        " continuing the CDK4/6 inhibitor, after confirming there is no radiographic progression.",
    ):
        assert text in switch.rationale


def test_esr1_switch_evidence_is_json_with_variants_and_dates():
    positive = positive_draw(3, ago(20), variant("D538G", 0.4))
    switch = only(run(make_patient(draws=(positive,))), "esr1_switch")

    evidence = json.loads(json.dumps(switch.evidence))
    assert evidence["rule"] == "5.esr1_switch"
    assert evidence["result_ids"] == [103]
    assert evidence["draw_ids"] == [3]
    assert evidence["variants"] == [
        {
            "short": "D538G",
            "protein_change": "p.Asp538Gly",
            "vaf_percent": 0.4,
            "result_id": 103,
            "collected_on": ago(20).isoformat(),
        }
    ]
    assert evidence["dates"]["latest_collected_on"] == ago(20).isoformat()


@pytest.mark.parametrize(
    ("vaf", "text"),
    [
        (0.4, "0.4"),
        (1.20, "1.2"),
        (2.0, "2"),
        (0.05, "0.05"),
        (12.345, "12.345"),
        (0.00001, "<0.0001"),
        (Decimal("0.40"), "0.4"),
        (Decimal("10.00"), "10"),
    ],
)
def test_vaf_is_shown_without_trailing_zeros(vaf, text):
    assert format_vaf(vaf) == text


def test_title_uses_the_most_recent_result_and_evidence_keeps_all():
    draws = (
        positive_draw(2, ago(60), variant("D538G", 0.1)),
        positive_draw(3, ago(5), variant("D538G", 0.9), variant("E380Q", 0.3)),
    )
    switch = only(run(make_patient(draws=draws)), "esr1_switch")

    assert switch.title == "ESR1 D538G (0.9%) + E380Q (0.3%) detected"
    assert switch.result_ids == frozenset({102, 103})
    assert switch.evidence["result_ids"] == [102, 103]
    assert len(switch.evidence["variants"]) == 3
    assert "Earlier positive: result 102" in switch.rationale


def test_title_lists_only_activating_variants():
    positive = positive_draw(3, ago(20), variant("Y537N", 2.5), variant("A593D", 4.0))
    switch = only(run(make_patient(draws=(positive,))), "esr1_switch")
    assert switch.title == "ESR1 Y537N (2.5%) detected"


def test_not_detected_and_failed_results_raise_no_switch():
    draws = (
        draw(1, ago(40), result(11, ago(35))),
        draw(2, ago(20), result(12, ago(15), variant("D538G", 1.0), failed=True)),
    )
    assert "esr1_switch" not in kinds(run(make_patient(draws=draws)))


def test_positive_draws_before_start_cancelled_or_after_today_are_ignored():
    before = positive_draw(1, START - timedelta(days=1))
    cancelled = positive_draw(2, ago(20))._replace(status="cancelled")
    future = positive_draw(3, ahead(1))
    evaluation = run(make_patient(draws=(before, cancelled, future)))
    assert "esr1_switch" not in kinds(evaluation)


def test_open_switch_alert_keeps_its_results_and_gains_new_ones():
    draws = (positive_draw(2, ago(60)), positive_draw(3, ago(5)))
    patient = make_patient(draws=draws, alerts=(alert(1, "esr1_switch", 102),))

    switch = only(run(patient), "esr1_switch")
    assert switch.result_ids == frozenset({102, 103})


def test_resolved_switch_alert_covers_its_results():
    decided = alert(1, "esr1_switch", 102, decision="repeat_test")
    patient = make_patient(draws=(positive_draw(2, ago(60)),), alerts=(decided,))
    assert "esr1_switch" not in kinds(run(patient))


def test_new_positive_after_a_decision_opens_a_switch_with_only_the_new_result():
    decided = alert(1, "esr1_switch", 102, decision="deferred")
    draws = (positive_draw(2, ago(60), variant("D538G", 0.2)), positive_draw(3, ago(5)))
    switch = only(run(make_patient(draws=draws, alerts=(decided,))), "esr1_switch")

    assert switch.result_ids == frozenset({103})
    assert switch.evidence["result_ids"] == [103]
    assert "result 102" not in switch.rationale


def test_resolved_alerts_of_another_family_do_not_cover_a_switch():
    other = alert(1, "esr1_at_progression", 102, decision="dismissed")
    patient = make_patient(draws=(positive_draw(2, ago(20)),), alerts=(other,))
    assert only(run(patient), "esr1_switch").result_ids == frozenset({102})


# --- rule 5: ESR1 at progression -------------------------------------------------------------


def test_result_before_progression_already_raised_as_switch_gives_no_progression_alert():
    # Detected, switch alert opened, then progression documented: the open switch covers it.
    patient = make_patient(
        draws=(positive_draw(2, ago(40)),),
        assessments=(AssessmentIn(id=1, date=ago(3), response="PD"),),
        alerts=(alert(1, "esr1_switch", 102),),
    )
    evaluation = run(patient)
    assert not evaluation.eligible
    assert not kinds(evaluation) & {"esr1_switch", "esr1_at_progression"}


def test_resolved_switch_alert_also_covers_at_progression():
    patient = make_patient(
        draws=(positive_draw(2, ago(40)),),
        assessments=(AssessmentIn(id=1, date=ago(3), response="PD"),),
        alerts=(alert(1, "esr1_switch", 102, decision="deferred"),),
    )
    assert "esr1_at_progression" not in kinds(run(patient))


def test_result_after_progression_raises_esr1_at_progression():
    pd_on = ago(30)
    patient = make_patient(
        draws=(positive_draw(2, ago(10), variant("Y537S", 3.5)),),
        assessments=(AssessmentIn(id=1, date=pd_on, response="PD"),),
    )
    evaluation = run(patient)

    assert "esr1_switch" not in kinds(evaluation)
    progression = only(evaluation, "esr1_at_progression")
    assert (progression.severity, progression.subject) == ("medium", "")
    assert progression.result_ids == frozenset({102})
    assert "Y537S (3.5%)" in progression.title
    assert f"outside the SERENA-6 window (progression documented {pd_on})" in (
        progression.rationale
    )
    assert "second-line planning" in progression.rationale
    assert progression.evidence["dates"]["progression_on"] == pd_on.isoformat()
    assert progression.evidence["rule"] == "5.esr1_at_progression"


def test_result_uncovered_before_progression_is_raised_at_progression():
    # The engine never ran between the result and the scan: no switch alert exists.
    patient = make_patient(
        draws=(positive_draw(2, ago(40)),),
        assessments=(AssessmentIn(id=1, date=ago(3), response="PD"),),
    )
    assert only(run(patient), "esr1_at_progression").result_ids == frozenset({102})


def test_resolved_at_progression_covers_but_a_new_result_reopens():
    patient = make_patient(
        draws=(positive_draw(2, ago(20)), positive_draw(3, ago(2))),
        assessments=(AssessmentIn(id=1, date=ago(30), response="PD"),),
        alerts=(alert(1, "esr1_at_progression", 102, decision="dismissed"),),
    )
    assert only(run(patient), "esr1_at_progression").result_ids == frozenset({103})


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "inactive"},
        {"her2_status": "positive"},
        {"er_status": "negative", "pr_status": "negative"},
    ],
)
def test_at_progression_only_when_progression_is_the_sole_reason(overrides):
    patient = make_patient(
        draws=(positive_draw(2, ago(10)),),
        assessments=(AssessmentIn(id=1, date=ago(30), response="PD"),),
        **overrides,
    )
    assert not kinds(run(patient)) & {"esr1_switch", "esr1_at_progression"}


def test_no_esr1_alerts_without_a_rule_one_treatment():
    patient = make_patient(
        treatments=(first_line(endocrine_therapy="fulvestrant"),),
        draws=(positive_draw(2, ago(10)),),
    )
    assert not kinds(run(patient)) & {"esr1_switch", "esr1_at_progression"}


# --- rule 5: ESR1 variants of uncertain significance -----------------------------------------


def test_vus_result_gets_a_review_alert_per_result():
    draws = (
        draw(1, ago(40), result(11, ago(35), variant("A593D", 0.8))),
        draw(2, ago(20), result(12, ago(15), variant("L536F", 1.5), variant("A593D", 0.5))),
    )
    evaluation = run(make_patient(draws=draws))

    reviews = alerts_of(evaluation, "esr1_vus_review")
    assert [(a.subject, a.severity) for a in reviews] == [
        ("result:11", "low"),
        ("result:12", "low"),
    ]
    assert reviews[1].result_ids == frozenset({12})
    assert "L536F (1.5%), A593D (0.5%)" in reviews[1].title
    assert "not among the known activating ESR1 ligand-binding-domain mutations" in (
        reviews[1].rationale
    )
    assert "molecular tumour board" in reviews[1].rationale
    assert "esr1_switch" not in kinds(evaluation)


def test_vus_next_to_an_activating_variant_needs_no_review():
    positive = positive_draw(3, ago(20), variant("D538G", 0.4), variant("A593D", 2.0))
    assert "esr1_vus_review" not in kinds(run(make_patient(draws=(positive,))))


def test_open_vus_review_is_re_emitted_and_resolved_one_is_not():
    draws = (
        draw(1, ago(40), result(11, ago(35), variant("A593D", 0.8))),
        draw(2, ago(20), result(12, ago(15), variant("A593D", 0.9))),
    )
    alerts = (
        alert(1, "esr1_vus_review", 11, decision="dismissed"),
        alert(2, "esr1_vus_review", 12),
    )
    reviews = alerts_of(run(make_patient(draws=draws, alerts=alerts)), "esr1_vus_review")
    assert [a.subject for a in reviews] == ["result:12"]


def test_vus_review_for_active_ineligible_patients_only():
    vus = (draw(1, ago(20), result(11, ago(15), variant("A593D", 0.8))),)
    assert alerts_of(run(make_patient(draws=vus, her2_status="positive")), "esr1_vus_review")
    assert not alerts_of(run(make_patient(draws=vus, status="deceased")), "esr1_vus_review")


# --- whole evaluation ------------------------------------------------------------------------


def test_evaluation_is_pure_and_repeatable():
    patient = make_patient(
        draws=(positive_draw(2, ago(20)), draw(3, ago(16))),
        appointments=(AppointmentIn(id=1, date=ahead(3), kind="clinic"),),
    )
    first = run(patient)
    assert run(patient) == first


def test_alert_kind_and_subject_pairs_are_unique():
    patient = make_patient(
        draws=(
            positive_draw(2, ago(200), variant("D538G", 0.3)),
            draw(3, ago(100), result(13, ago(95), variant("A593D", 0.8))),
            draw(4, ago(30)),
            draw(5, ago(20)),
        ),
        treatments=(first_line(ago(300)),),
    )
    evaluation = run(patient)
    pairs = [(a.kind, a.subject) for a in evaluation.alerts]
    assert len(pairs) == len(set(pairs))
    assert {"esr1_switch", "esr1_vus_review", "result_overdue"} <= kinds(evaluation)
    json.dumps([a.evidence for a in evaluation.alerts])


# --- clinician-facing words ------------------------------------------------------------------


def every_kind_of_alert(policy: Policy) -> list:
    """The alerts of patients chosen to raise every kind, through each wording branch."""
    pd = AssessmentIn(1, ago(10), "PD")
    patients = [
        # ESR1 switch, with an earlier positive result listed too
        make_patient(
            draws=(positive_draw(5, ago(60), variant("Y537S", 0.2)), positive_draw(3, ago(20)))
        ),
        make_patient(draws=(positive_draw(3, ago(20)),), assessments=(pd,)),  # at progression
        make_patient(draws=(draw(3, ago(20), result(103, ago(15), variant("A593D", 0.8))),)),
        # draws due: first draw, moved to an appointment, at enrolment, high-risk interval
        make_patient(treatments=(first_line(ago(52)),), enrolled_on=ago(52)),
        make_patient(
            treatments=(first_line(ago(52)),),
            enrolled_on=ago(52),
            appointments=(AppointmentIn(1, ahead(6), "imaging"),),
        ),
        make_patient(treatments=(first_line(ago(300)),), enrolled_on=ago(2)),
        make_patient(metastatic_sites=("liver",), draws=(draw(3, ago(60), result(103, ago(55))),)),
        make_patient(treatments=(first_line(ago(100)),)),  # overdue
        make_patient(draws=(draw(4, ago(30), result(104, ago(25), failed=True)),)),  # redraw
        make_patient(draws=(draw(3, ago(21)),)),  # result overdue
        # a repeat test the oncologist asked for
        make_patient(draws=(draw(6, None, status="planned", due_date=ahead(3), pinned=True),)),
    ]
    return [a for p in patients for a in run(p, policy=policy).alerts]


def test_alert_words_name_the_rule_clinically_and_never_cite_the_specification():
    policy = Policy(version=3)
    alerts = every_kind_of_alert(policy)

    assert {a.kind for a in alerts} == set(SEVERITY_BY_KIND)
    for a in alerts:
        words = f"{a.title} {a.rationale}"
        assert not re.search(r"SPEC|\bsection \d|\brule \d", words, re.IGNORECASE), words
        assert a.rationale.endswith(f" Rule: {RULE_NAMES[a.kind]} (policy v3)."), a.rationale

"""The surveillance policy in plain words (surveillance/policy_words.py)."""

from dataclasses import asdict

from surveillance.policy_words import alert_rules, known_activating_mutations, policy_terms
from surveillance.rules import RULE_NAMES, SEVERITY_BY_KIND, Policy
from surveillance.variants import ESR1_ACTIVATING_SHORT

V1 = {name: value for name, value in asdict(Policy()).items() if name != "version"}


def test_every_number_of_the_policy_is_worded():
    terms = policy_terms(V1)
    assert [t.field for t in terms][:2] == ["first_draw_after_days", "interval_high_risk_days"]
    assert {t.field for t in terms} == set(V1)
    by_field = {t.field: t for t in terms}
    assert by_field["interval_standard_risk_days"].label == "Draw interval, standard risk"
    assert by_field["interval_standard_risk_days"].text == (
        "every 84 days, counted from the last collected draw"
    )
    assert by_field["high_risk_min_sites"].text == "3 or more metastatic sites"
    assert all(t.was is None for t in terms)
    # Worded, not the field names.
    assert not any("_" in t.label or "_" in t.text for t in terms)


def test_one_day_is_singular():
    (term,) = policy_terms({"redraw_after_failed_days": 1})
    assert term.text == "1 day after the failed result is reported"


def test_a_number_not_worded_yet_still_shows():
    terms = policy_terms({**V1, "switch_scan_days": 42, "spare_count": 3})
    assert terms[-2:] == [
        ("switch_scan_days", "Switch scan", "42 days", None),
        ("spare_count", "Spare count", "3", None),
    ]


def test_a_changed_number_carries_the_previous_wording():
    changed = {**V1, "interval_standard_risk_days": 70}
    by_field = {t.field: t for t in policy_terms(changed, previous=V1)}
    assert by_field["interval_standard_risk_days"].text.startswith("every 70 days")
    assert by_field["interval_standard_risk_days"].was.startswith("every 84 days")
    assert by_field["interval_high_risk_days"].was is None


def test_every_alert_kind_has_a_rule_in_clinical_words():
    rules = alert_rules()
    assert {r.kind for r in rules} == set(SEVERITY_BY_KIND) == set(RULE_NAMES)
    for rule in rules:
        assert rule.severity == SEVERITY_BY_KIND[rule.kind]
        assert rule.name and rule.text and "SPEC" not in rule.name + rule.text


def test_the_known_activating_mutations_in_protein_order():
    listed = known_activating_mutations()
    assert set(listed) == ESR1_ACTIVATING_SHORT
    assert listed[:3] == ["E380Q", "V422del", "S463P"]
    assert listed[-2:] == ["D538G", "E542K"]

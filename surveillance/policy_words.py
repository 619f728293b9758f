"""The surveillance policy in a clinician's words: each number of a policy version as a
sentence, and each alert rule by its clinical name (the policy page).

Pure: a version's numbers come in as a mapping of field name to value, so a field added to
the policy later still shows (in plain if plainer words) before it is worded here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from surveillance.rules import RULE_NAMES, SEVERITY_BY_KIND
from surveillance.variants import ESR1_ACTIVATING_SHORT

__all__ = ["AlertRule", "Term", "alert_rules", "known_activating_mutations", "policy_terms"]


class Term(NamedTuple):
    field: str
    label: str
    text: str
    was: str | None = None  # the previous version's wording, when the number changed


class AlertRule(NamedTuple):
    kind: str
    name: str
    severity: str
    text: str


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


_WORDING: dict[str, tuple[str, Callable[[int], str]]] = {
    "first_draw_after_days": (
        "First draw",
        lambda n: (
            f"{_days(n)} after first-line AI + CDK4/6 inhibitor starts, or on the day the"
            " patient joins the programme if that is later"
        ),
    ),
    "interval_high_risk_days": (
        "Draw interval, high risk",
        lambda n: f"every {_days(n)}, counted from the last collected draw",
    ),
    "interval_standard_risk_days": (
        "Draw interval, standard risk",
        lambda n: f"every {_days(n)}, counted from the last collected draw",
    ),
    "redraw_after_failed_days": (
        "Redraw after a failed result",
        lambda n: f"{_days(n)} after the failed result is reported",
    ),
    "alignment_window_days": (
        "Draws moved to visits",
        lambda n: (
            f"a draw due within {_days(n)} of a clinic or imaging appointment moves to"
            " that appointment (the closest; never to a day already past)"
        ),
    ),
    "high_risk_days_on_treatment": (
        "High risk: time on treatment",
        lambda n: f"{_days(n)} or more on first-line AI + CDK4/6 inhibitor",
    ),
    "high_risk_min_sites": (
        "High risk: metastatic sites",
        lambda n: f"{n} or more metastatic sites",
    ),
    "draw_due_lookahead_days": (
        "Draw due alert",
        lambda n: f"shown from {_days(n)} before the due date",
    ),
    "draw_overdue_after_days": (
        "Draw overdue alert",
        lambda n: (
            f"when a draw is more than {_days(n)} past its due date (until then it shows as due)"
        ),
    ),
    "result_overdue_after_days": (
        "Result overdue alert",
        lambda n: f"when a collected draw has had no result for more than {_days(n)}",
    ),
}


def _term_text(field: str, value: int) -> tuple[str, str]:
    if field in _WORDING:
        label, words = _WORDING[field]
        return label, words(value)
    # Not worded yet: the field's own name, and the number (in days when it counts days).
    if field.endswith("_days"):
        return field.removesuffix("_days").replace("_", " ").capitalize(), _days(value)
    return field.replace("_", " ").capitalize(), str(value)


def policy_terms(
    values: Mapping[str, int], previous: Mapping[str, int] | None = None
) -> list[Term]:
    """Each number of a policy version as a sentence: the worded ones in a fixed order, then
    any others. With `previous` (the version before), a changed number carries its old
    wording."""
    fields = [f for f in _WORDING if f in values] + [f for f in values if f not in _WORDING]
    terms = []
    for field in fields:
        label, text = _term_text(field, values[field])
        was = None
        if previous is not None and field in previous and previous[field] != values[field]:
            was = _term_text(field, previous[field])[1]
        terms.append(Term(field, label, text, was))
    return terms


_RULE_TEXT = {
    "esr1_switch": (
        "A final result on a draw collected during first-line AI + CDK4/6 inhibitor lists a"
        " known activating ESR1 mutation, and no progression is documented. Consider switching"
        " the aromatase inhibitor to a SERD and continuing the CDK4/6 inhibitor, after"
        " confirming there is no radiographic progression. Stays open until an oncologist"
        " decides; later positive results are added to it."
    ),
    "esr1_at_progression": (
        "The same finding, but progression was documented on the treatment: outside the window"
        " where an early switch was studied. For second-line planning."
    ),
    "esr1_vus_review": (
        "A result lists an ESR1 variant that is not a known activating mutation. The result"
        " counts as ESR1 not detected; the variant is for the oncologist or the molecular"
        " tumour board to review."
    ),
    "draw_due": "The next ctDNA draw is coming due, or is a little late.",
    "draw_overdue": "The next ctDNA draw is late by more than the allowed days.",
    "redraw_needed": "The last ctDNA result failed: a new sample is needed.",
    "result_overdue": "A collected draw has had no result for longer than expected.",
}


def alert_rules() -> list[AlertRule]:
    """Each alert rule by its clinical name, with its severity and what raises it."""
    return [
        AlertRule(kind, name, SEVERITY_BY_KIND[kind], _RULE_TEXT[kind])
        for kind, name in RULE_NAMES.items()
    ]


def known_activating_mutations() -> list[str]:
    """The known activating ESR1 ligand-binding-domain mutations, by position."""

    def position(short: str) -> tuple[int, str]:
        digits = "".join(c for c in short[1:] if c.isdigit())
        return int(digits), short

    return sorted(ESR1_ACTIVATING_SHORT, key=position)

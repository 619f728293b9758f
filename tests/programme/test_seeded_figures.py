"""`seed_cohort --history` gives a small cohort a year in which every programme figure means
something: draws on time and late, failed samples, detections before and at progression,
decisions of every kind and switches."""

import pytest
from django.core.management import call_command

from programme.forms import default_start
from programme.selectors import DECISION_KINDS, programme_metrics
from tests.factories import TODAY

pytestmark = pytest.mark.django_db

SHARES_AND_MEDIANS = (
    "draws_on_time_pct", "turnaround_days_median", "turnaround_days_p90",
    "turnaround_within_14_pct", "failed_pct", "result_to_alert_minutes_median",
    "detected_before_progression_pct", "detection_to_decision_days_median",
    "decision_to_switch_days_median",
)  # fmt: skip


def test_every_figure_of_a_seeded_year_is_a_number():
    call_command("seed_cohort", patients=600, seed=1, history=True,
                 as_of=TODAY.isoformat(), verbosity=0)  # fmt: skip
    m = programme_metrics(start=default_start(TODAY), end=TODAY, today=TODAY)

    missing = [name for name in SHARES_AND_MEDIANS if m[name] is None]
    assert missing == [], {name: m[f"{name}_n"] for name in missing}
    assert 0 < m["draws_on_time_pct"] < 100  # on time and late
    assert 0 < m["failed_pct"] < 100
    assert 0 < m["detected_before_progression_pct"] < 100  # before and at progression
    assert all(m["decisions"][kind] > 0 for kind in DECISION_KINDS), m["decisions"]
    assert m["switched"] > 0
    funnel = m["funnel"]
    assert funnel["monitored"] > funnel["tested"] > funnel["esr1_detected"] > funnel["switched"]
    assert funnel["switched"] > 0
    # Spread over the year, not all today: most months have draws due and results.
    busy = [row for row in m["by_month"] if row["draws_due"] and row["turnaround_days_median_n"]]
    assert len(busy) >= 10

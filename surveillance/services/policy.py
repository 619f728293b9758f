"""Saving a new version of the surveillance policy (SPEC section 5: each edit is a new
version, and the highest version is the one in force).

A version is checked first (every number within its range, the high-risk interval no longer
than the standard one; errors in the shape of config.errors), then stored in one transaction
with its audit context, numbered after the latest under a lock so two administrators saving
at once get two versions. The policy takes effect at once: after the commit a full
surveillance run is queued, so every patient's due dates and alerts follow the new numbers
within minutes instead of at the next morning's run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pghistory
from django.db import transaction

from accounts.roles import Action, require
from config.errors import Errors
from surveillance.models import SurveillancePolicy
from surveillance.tasks import run_all

logger = logging.getLogger(__name__)

# Each number's allowed range (inclusive), in days unless the name says otherwise. Wide enough
# for any clinic's protocol, narrow enough to catch a slip of the keyboard (840 for 84).
RANGES: dict[str, tuple[int, int]] = {
    "first_draw_after_days": (1, 365),
    "redraw_after_failed_days": (1, 180),
    "interval_high_risk_days": (1, 365),
    "interval_standard_risk_days": (1, 365),
    "alignment_window_days": (0, 60),
    "high_risk_days_on_treatment": (1, 1825),
    "high_risk_min_sites": (1, 20),
    "draw_due_lookahead_days": (0, 60),
    "draw_overdue_after_days": (1, 180),
    "result_overdue_after_days": (1, 180),
    "switch_scan_days": (1, 365),
}
POLICY_FIELDS = tuple(RANGES)


def policy_problems(values: Mapping[str, object]) -> Errors:
    """What is wrong with a version's numbers, field by field (empty when nothing is)."""
    errors = Errors()
    for field, (low, high) in RANGES.items():
        value = values.get(field)
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            errors.add(field, "Enter a whole number.")
        elif not low <= value <= high:
            if low == 1 and value < 1:
                errors.add(field, f"Must be positive (between {low} and {high}).")
            else:
                errors.add(field, f"Must be between {low} and {high}.")
    high_risk = values.get("interval_high_risk_days")
    standard = values.get("interval_standard_risk_days")
    if (
        "interval_high_risk_days" not in errors
        and "interval_standard_risk_days" not in errors
        and high_risk > standard
    ):
        errors.add(
            "interval_high_risk_days",
            f"High-risk patients are drawn at least as often as the others: at most "
            f"{standard} days (the standard-risk interval).",
        )
    return errors


def policy_save(*, actor, values: Mapping[str, int], note: str = "") -> SurveillancePolicy:
    """Store `values` as the next policy version, in force at once, and queue a full run."""
    require(actor, Action.MANAGE_POLICY)
    policy_problems(values).raise_if_any()
    with pghistory.context(user=actor.pk, source="policy-save"), transaction.atomic():
        latest = SurveillancePolicy.objects.select_for_update().order_by("-version").first()
        policy = SurveillancePolicy.objects.create(
            version=(latest.version if latest else 0) + 1,
            note=note,
            created_by=actor,
            **{field: values[field] for field in POLICY_FIELDS},
        )
        transaction.on_commit(queue_full_run)
    return policy


def queue_full_run() -> bool:
    """Ask the worker for a full run. The version is saved whatever happens here: if the
    broker is down, the morning run applies it."""
    try:
        # A full run of the engine over every patient: a policy change concerns everyone.
        # No retries: an administrator's save must not hang on a broker that is down.
        run_all.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - the morning run applies the new version
        logger.warning("could not queue the full run after a policy change; the morning run will")
        return False
    return True


def policy_changes(
    policy: SurveillancePolicy, previous: SurveillancePolicy | None
) -> list[tuple[str, int, int]]:
    """(field, old, new) for each number that differs from the version before."""
    if previous is None:
        return []
    return [
        (field, getattr(previous, field), getattr(policy, field))
        for field in POLICY_FIELDS
        if getattr(previous, field) != getattr(policy, field)
    ]

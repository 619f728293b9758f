"""Audit helpers shared by the clinical models.

Changes are recorded by Postgres triggers (django-pghistory), so bulk updates made
by the engine are captured too; the history tables are append-only.
"""

import pghistory
import pgtrigger


def audited(**kwargs):
    """Track inserts, updates and deletes of a model in an append-only history table."""
    return pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        append_only=True,
        **kwargs,
    )


def history_trigger_ignore_list(*operations, models=None) -> str:
    """A `pgtrigger.ignore` value naming the history triggers of these operations
    (pgtrigger.Insert, Update, Delete) on these models (every audited model when None), for
    writers that record the same history rows themselves or, for synthetic data, not at all."""
    from pghistory.trigger import Event as HistoryTrigger

    names = [
        trigger.get_pgid(model)
        for model, trigger in pgtrigger.registered()
        if isinstance(trigger, HistoryTrigger)
        and trigger.operation in operations
        and (models is None or model in models)
    ]
    return "{" + ",".join(sorted(names)) + "}"

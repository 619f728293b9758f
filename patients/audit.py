"""Audit helpers shared by the clinical models.

Changes are recorded by Postgres triggers (django-pghistory), so bulk updates made
by the engine are captured too; the history tables are append-only.
"""

import pghistory


def audited(**kwargs):
    """Track inserts, updates and deletes of a model in an append-only history table."""
    return pghistory.track(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        append_only=True,
        **kwargs,
    )

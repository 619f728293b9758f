"""Every write to surveillance data: `<entity>_<action>(*, actor, ...)`, checked first (errors
in the shape of config.errors), then one transaction with its audit record and the patient's
re-evaluation mark.

- records.py: draws and results (`draw_record`, `draw_cancel`, `result_record`);
- corrections.py: a corrected laboratory report superseding a result (`result_supersede`);
- decisions.py: resolving alerts (`alert_resolve`, and who may make which decision).

Callers import from here: `from surveillance.services import alert_resolve, draw_record`.
"""

from surveillance.services.corrections import result_supersede
from surveillance.services.decisions import (
    StaleEvidence,
    alert_resolve,
    allowed_decisions,
    may_resolve,
)
from surveillance.services.records import (
    SAMPLE_STATUSES,
    DuplicateDraw,
    VariantRowError,
    draw_cancel,
    draw_record,
    result_record,
)

__all__ = [
    "SAMPLE_STATUSES",
    "DuplicateDraw",
    "StaleEvidence",
    "VariantRowError",
    "alert_resolve",
    "allowed_decisions",
    "draw_cancel",
    "draw_record",
    "may_resolve",
    "result_record",
    "result_supersede",
]

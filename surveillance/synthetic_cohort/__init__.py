"""A large, deterministic synthetic cohort for benchmarks (SPEC section 6, `seed_cohort`).

Same patients, seed and as-of date give the same rows (ids aside): each patient is drawn from
its own random stream seeded by (seed, index), so patient 42 is the same patient (her
oncologist aside) in a cohort of 60 and in one of 100,000. Dates are relative to the as-of
date (default: today in TIME_ZONE), so a cohort seeded today has draws due, overdue and
pending.

Synthetic patients are recognised by their MRN alone: "SYN" and seven digits. Replacing a
cohort deletes every row that hangs off those patients (found through the foreign keys, so a
table added later is included) before loading the new one. It is refused when the
append-only record-access log names a synthetic patient: that log is not ours to rewrite.

Audit: the pghistory insert/delete triggers stay on. Every history row written by a load or
a replace points at one pghistory context, {"source": "seed_cohort", ...}, so the audit log
shows one labelled bulk operation rather than 2.8 million anonymous rows. With the trigger
settings prepared (load._prepare_triggers) the audited load of 100,000 patients fits the
3-minute budget on a 2-core machine, so the audit is kept; `audit=False` (`--no-audit`)
exists only to measure what the triggers cost.

No planned draws and no alerts are written: planning and alerting are the engine's job.

    mix.py       the clinical mix: drugs, sites, variants, assays, names
    generate.py  one patient at a time (CohortModel)
    load.py      COPY into the database, replacing a previous cohort
"""

from surveillance.synthetic_cohort.generate import MRN_PATTERN, MRN_PREFIX, CohortModel
from surveillance.synthetic_cohort.load import (
    CohortError,
    LoadStats,
    cohort_oncologists,
    delete_synthetic_cohort,
    seed_cohort,
    synthetic_patients,
)

__all__ = [
    "MRN_PATTERN",
    "MRN_PREFIX",
    "CohortError",
    "CohortModel",
    "LoadStats",
    "cohort_oncologists",
    "delete_synthetic_cohort",
    "seed_cohort",
    "synthetic_patients",
]

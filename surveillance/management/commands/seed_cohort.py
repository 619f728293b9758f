"""A large, deterministic synthetic cohort for benchmarks (SPEC section 6, `seed_cohort`).

    python manage.py seed_cohort --patients 100000 [--seed 1] [--as-of 2026-06-15] [--replace]

Same --patients, --seed and --as-of give the same rows (ids aside): each patient is drawn
from its own random stream seeded by (seed, index), so patient 42 is the same patient (its
oncologist aside) in a cohort of 60 and in one of 100,000. Dates are relative to --as-of
(default: today in TIME_ZONE), so a cohort seeded today has draws due, overdue and pending.

Synthetic patients are recognised by their MRN alone: "SYN" and seven digits. `--replace`
deletes every row that hangs off those patients (found through the foreign keys, so a table
added later is included) before loading the new cohort. It refuses when the append-only
record-access log names a synthetic patient: that log is not ours to rewrite.

Audit: the pghistory insert/delete triggers stay on. Every history row written by a load or
a replace points at one pghistory context, {"source": "seed_cohort", ...}, so the audit log
shows one labelled bulk operation rather than 2.8 million anonymous rows. With the trigger
settings prepared (see _prepare_triggers) the audited load of 100,000 patients fits the
3-minute budget on a 2-core machine, so the audit is kept; `--no-audit` exists only to
measure what the triggers cost.

Rows are written with Postgres COPY (psycopg 3) in chunks of 5,000 patients, inside one
transaction: an interrupted load leaves nothing behind. Ids of patients, draws and results
are reserved from their sequences first so children can be written without a round trip.
No planned draws and no alerts are written: planning and alerting are the engine's job.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pghistory
import pgtrigger
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_set_role
from patients.audit import history_trigger_ignore_list
from patients.models import (
    Appointment,
    Assessment,
    Patient,
    PatientAccess,
    Treatment,
    clinic_today,
)
from surveillance.models import Draw, Result, Variant
from surveillance.variants import ESR1_ACTIVATING_SHORT, is_esr1_activating, parse_protein_change

MRN_PREFIX = "SYN"
MRN_PATTERN = r"^SYN[0-9]{7}$"
ONCOLOGIST_PREFIX = "cohort.onc"
PATIENTS_PER_ONCOLOGIST = 400
CHUNK = 5_000

# --- Clinical mix --------------------------------------------------------------------------
# Proportions are round numbers in the range reported for HR+/HER2- metastatic cohorts on
# first-line AI + CDK4/6 (PALOMA-2, MONALEESA-2, SERENA-6 screening, PADA-1); good enough to
# exercise every branch of the rules at realistic frequencies, not an epidemiological model.

AI_DRUGS = (("letrozole", 60), ("anastrozole", 25), ("exemestane", 15))
CDK46_DRUGS = (("palbociclib", 45), ("ribociclib", 35), ("abemaciclib", 20))
SWITCH_SERDS = (("camizestrant", 50), ("fulvestrant", 30), ("elacestrant", 20))
SECOND_LINE = (
    (("fulvestrant", "abemaciclib"), 25),
    (("fulvestrant", None), 25),
    (("elacestrant", None), 15),
    (("exemestane", None), 20),
    (("tamoxifen", None), 10),
    (("imlunestrant", None), 5),
)
THIRD_LINE = ((("exemestane", None), 40), (("tamoxifen", None), 35), (("fulvestrant", None), 25))

NON_VISCERAL = ("bone", "lymph_node", "soft_tissue", "skin", "other")
NON_VISCERAL_WEIGHTS = (60, 25, 8, 4, 3)
VISCERAL = ("liver", "lung", "pleura", "peritoneum", "brain")
VISCERAL_WEIGHTS = (45, 33, 12, 6, 4)
ALL_SITES = NON_VISCERAL + VISCERAL
ALL_SITE_WEIGHTS = NON_VISCERAL_WEIGHTS + (20, 15, 6, 3, 2)

# D538G and Y537S make up about 70% of ESR1 mutations in ctDNA.
ESR1_CLONES = (
    ("D538G", 40), ("Y537S", 30), ("Y537N", 6), ("E380Q", 5), ("Y537C", 5), ("L536H", 4),
    ("S463P", 3), ("L536R", 2), ("L536P", 1), ("L536Q", 1), ("Y537D", 1), ("E542K", 1),
    ("V422del", 0.5), ("L469V", 0.5),
)  # fmt: skip
# ESR1 changes off the activating list: kept, shown and sent for review (SPEC section 4).
ESR1_VUS = (("Y537H", 3), ("D538N", 2), ("L536F", 2), ("S432L", 2), ("A283V", 1), ("Q75*", 1))
PIK3CA = (("H1047R", 45), ("E545K", 25), ("E542K", 15), ("H1047L", 10), ("N345K", 5))
TP53 = (("R175H", 30), ("R273H", 25), ("R248Q", 25), ("Y220C", 20))

ASSAYS = (
    ("guardant360_cdx", 45),
    ("foundationone_liquid_cdx", 25),
    ("ddpcr_esr1", 25),
    ("other", 5),
)
NGS_ASSAYS = frozenset({"guardant360_cdx", "foundationone_liquid_cdx", "other"})
MODALITIES = (("ct", 70), ("bone_scan", 15), ("pet_ct", 10), ("mri", 5))

GIVEN_NAMES = (
    "Ada", "Amara", "Anna", "Aoife", "Beatriz", "Carmen", "Chiara", "Chloe", "Dana", "Diane",
    "Elena", "Elif", "Emma", "Eva", "Fatima", "Grace", "Hana", "Helen", "Ines", "Irene",
    "Jana", "Joan", "Julia", "Karin", "Laila", "Laura", "Lena", "Lucia", "Maya", "Mei",
    "Marta", "Nadia", "Nora", "Olga", "Paula", "Priya", "Rosa", "Ruth", "Sara", "Sofia",
    "Tamar", "Tessa", "Uma", "Vera", "Wanda", "Yara", "Yuki", "Zofia",
)  # fmt: skip
FAMILY_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Baker", "Becker", "Bianchi", "Brennan",
    "Chen", "Costa", "Dubois", "Duarte", "Eriksen", "Fischer", "Garcia", "Gupta", "Haddad",
    "Hansen", "Ito", "Jansen", "Kaur", "Keller", "Kowalski", "Larsen", "Lopez", "Martin",
    "Meyer", "Moreau", "Murphy", "Nakamura", "Novak", "Nowak", "Okafor", "Olsen", "Patel",
    "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith", "Tanaka",
    "Varga", "Wagner", "Walsh", "Wong", "Yilmaz", "Zhang",
)  # fmt: skip


def _weighted(pairs):
    """A picker over (value, weight) pairs for a random.Random: one call, one draw."""
    pairs = list(pairs)
    values = [v for v, _ in pairs]
    cumulative = list(itertools.accumulate(weight for _, weight in pairs))
    total, last = cumulative[-1], len(values) - 1

    def pick(rng: random.Random):
        # random.choices does the same, slower: this runs a few million times per 100k patients.
        return values[min(last, bisect.bisect_right(cumulative, rng.random() * total))]

    return pick


pick_ai, pick_cdk46 = _weighted(AI_DRUGS), _weighted(CDK46_DRUGS)
pick_switch_serd, pick_second, pick_third = (
    _weighted(SWITCH_SERDS), _weighted(SECOND_LINE), _weighted(THIRD_LINE)
)  # fmt: skip
pick_clone, pick_vus = _weighted(ESR1_CLONES), _weighted(ESR1_VUS)
pick_pik3ca, pick_tp53 = _weighted(PIK3CA), _weighted(TP53)
pick_assay, pick_modality = _weighted(ASSAYS), _weighted(MODALITIES)
pick_non_visceral = _weighted(zip(NON_VISCERAL, NON_VISCERAL_WEIGHTS, strict=True))
pick_visceral = _weighted(zip(VISCERAL, VISCERAL_WEIGHTS, strict=True))
pick_any_site = _weighted(zip(ALL_SITES, ALL_SITE_WEIGHTS, strict=True))


def _normalised(gene: str, short: str) -> tuple[str, str, str, bool, bool]:
    """(gene, canonical protein_change, short, esr1_activating, esr1_vus), as the API stores."""
    change = parse_protein_change(short, gene=gene)
    activating = is_esr1_activating(gene, change)
    return gene, change.canonical, change.short, activating, gene == "ESR1" and not activating


VARIANT_FORMS = {
    (gene, short): _normalised(gene, short)
    for gene, table in (
        ("ESR1", ESR1_CLONES), ("ESR1", ESR1_VUS), ("PIK3CA", PIK3CA), ("TP53", TP53)
    )
    for short, _ in table
}  # fmt: skip
assert (
    all(  # noqa: S101 - a typo in the tables above must not seed wrong data silently
        VARIANT_FORMS[("ESR1", short)][3] for short, _ in ESR1_CLONES
    )
    and {short for short, _ in ESR1_CLONES} <= ESR1_ACTIVATING_SHORT
)


# --- One patient ---------------------------------------------------------------------------


@dataclass
class SynthResult:
    reported_on: date
    status: str
    esr1_status: str
    variants: list[tuple] = field(default_factory=list)  # (*VARIANT_FORMS value, vaf)


@dataclass
class SynthDraw:
    collected_on: date
    assay: str
    accession: str
    result: SynthResult | None
    status: str = "resulted"  # or collected (no result yet), cancelled (sample lost)
    cancel_reason: str = ""


@dataclass
class SynthPatient:
    patient: tuple  # PATIENT_COLUMNS minus id, oncologist_id
    oncologist_slot: int
    treatments: list[tuple] = field(default_factory=list)
    assessments: list[tuple] = field(default_factory=list)
    appointments: list[tuple] = field(default_factory=list)
    draws: list[SynthDraw] = field(default_factory=list)


@dataclass
class _Clone:
    form: tuple
    emerges: int  # day from first-line start
    vaf0: float
    growth: float  # log-VAF per 30 days


LN2 = math.log(2)


def _lognormal_vaf(rng: random.Random, median: float, sigma: float, low: float, high: float):
    return min(high, max(low, math.exp(rng.gauss(math.log(median), sigma))))


class CohortModel:
    """Draws one synthetic patient at a time. Days are counted from the first-line start."""

    def __init__(self, *, seed: int, today: date, oncologists: int):
        self.seed = seed
        self.today = today
        self.oncologists = oncologists

    def rng_for(self, index: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + index)

    def patient(self, index: int) -> SynthPatient:
        rng = self.rng_for(index)
        today = self.today
        start = today - timedelta(days=rng.randint(7, 1095))
        base = start.toordinal()

        def on(day: int) -> date:
            return date.fromordinal(base + day)

        today_day = (today - start).days

        # Demographics and disease
        sex = "male" if rng.random() < 0.01 else "female"
        er = "positive" if (r := rng.random()) < 0.985 else ("negative" if r < 0.997 else "unknown")
        if er == "positive":
            pr = (
                "positive"
                if (r := rng.random()) < 0.72
                else ("negative" if r < 0.98 else "unknown")
            )
        else:
            pr = "positive" if rng.random() < 0.3 else "negative"
        her2 = (
            "negative" if (r := rng.random()) < 0.975 else ("positive" if r < 0.99 else "unknown")
        )
        visceral = rng.random() < 0.5
        n_sites = rng.choices((1, 2, 3, 4), cum_weights=(40, 70, 90, 100))[0]
        sites: list[str] = [pick_visceral(rng)] if visceral else []
        pool = pick_any_site if visceral else pick_non_visceral
        for _ in range(40):
            if len(sites) >= n_sites:
                break
            site = pool(rng)
            if site not in sites:
                sites.append(site)
        prior_ai = rng.random() < 0.35
        high_burden = rng.random() < 0.2
        metastatic_on = start - timedelta(days=rng.randint(0, 45))
        age = min(90.0, max(30.0, rng.gauss(62, 11)))
        birth = metastatic_on - timedelta(days=int(age * 365.25) + rng.randint(0, 364))
        enrolled = min(today, start + timedelta(days=rng.randint(0, 21)))
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)

        # Fate: who stops being followed, when the ESR1 clone appears, when disease progresses
        status, stop_day = "active", None
        r = rng.random()
        if r < 0.025 and today_day > 90:
            status, stop_day = "deceased", rng.randint(60, today_day - 1)
        elif r < 0.06 and today_day > 60:
            status, stop_day = "inactive", rng.randint(30, today_day - 1)
        horizon = today_day if stop_day is None else stop_day
        # A new treatment may start today, but not on the day follow-up stops (it would end
        # the day it starts).
        last_start = today_day if stop_day is None else stop_day - 1

        first_endocrine = pick_ai(rng)
        first_cdk = pick_cdk46(rng)
        r = rng.random()
        if r < 0.04:
            first_endocrine = "fulvestrant"  # relapsed on adjuvant AI: SERD first line
        elif r < 0.06:
            first_cdk = None  # AI alone (frail, or CDK4/6 not reimbursed)
        surveillance_regimen = first_endocrine != "fulvestrant" and first_cdk is not None
        in_scope = "positive" in (er, pr) and her2 != "positive"

        clones: list[_Clone] = []
        if rng.random() < 0.5:
            emerges = int(rng.uniform(60, 720))
            first = pick_clone(rng)
            shorts = [first]
            if rng.random() < 0.3:  # polyclonal: one or two more activating mutations later
                for _ in range(rng.choice((1, 1, 2))):
                    extra = pick_clone(rng)
                    if extra not in shorts:
                        shorts.append(extra)
            for i, short in enumerate(shorts):
                clones.append(
                    _Clone(
                        form=VARIANT_FORMS[("ESR1", short)],
                        emerges=emerges if i == 0 else emerges + rng.randint(30, 240),
                        vaf0=_lognormal_vaf(rng, 0.4, 1.0, 0.02, 30.0),
                        growth=rng.uniform(0.05, 0.35),
                    )
                )
            # ESR1 is seen a median of 3-7 months before radiographic progression.
            progression_day = emerges + int(rng.uniform(60, 300))
        else:
            progression_day = 60 + int(rng.expovariate(LN2 / 800))
        vus = None
        if rng.random() < 0.015:
            # Seen on one to a few draws: low-level, often clonal haematopoiesis.
            vus_from = rng.randint(0, 600)
            vus_until = vus_from + rng.randint(0, 150)
            vus = (VARIANT_FORMS[("ESR1", pick_vus(rng))], vus_from, vus_until)
            vus += (_lognormal_vaf(rng, 0.6, 0.8, 0.05, 20.0),)
        truncal = []
        if rng.random() < 0.35:
            truncal.append((VARIANT_FORMS[("PIK3CA", pick_pik3ca(rng))], rng.uniform(0.5, 15)))
        if rng.random() < 0.15:
            truncal.append((VARIANT_FORMS[("TP53", pick_tp53(rng))], rng.uniform(0.3, 10)))
        toxicity_day = int(rng.uniform(20, 240)) if rng.random() < 0.06 else None

        # Imaging every ~12 weeks from about 3 months in
        imaging_days = []
        day = rng.randint(70, 98)
        while day <= horizon:
            imaging_days.append(day)
            day += rng.randint(70, 98)

        def first_imaging_on_or_after(target: float) -> int | None:
            return next((d for d in imaging_days if d >= target), None)

        def line1_end_for(progression: float) -> tuple[int | None, int | None]:
            pd_day = first_imaging_on_or_after(progression)
            if pd_day is None:
                return None, None
            end = pd_day + rng.randint(0, 21)
            return pd_day, (end if end <= last_start else None)

        pd1_day, line1_end = line1_end_for(progression_day)

        # ctDNA draws during first line, every 8-12 weeks with real-world slippage
        high_risk_static = prior_ai or visceral or len(sites) >= 3 or high_burden
        assay = pick_assay(rng)
        draws: list[SynthDraw] = []
        switch_day: int | None = None
        switch_decided = False
        day = rng.randint(0, 14)  # baseline sample
        n = 0
        while day <= horizon and (line1_end is None or day < line1_end):
            interval = 56 if high_risk_static or day >= 182 else 84
            slip = rng.random()
            if slip < 0.15:
                interval -= rng.randint(1, 7)
            elif slip < 0.6:
                interval += rng.randint(0, 3)
            elif slip < 0.88:
                interval += rng.randint(4, 14)
            else:
                interval += rng.randint(15, 45)
            if rng.random() < 0.05:  # missed draw: nothing collected this round
                day += interval
                continue
            n += 1
            draw_assay = assay if rng.random() < 0.9 else pick_assay(rng)
            accession = f"{MRN_PREFIX}{index:07d}-{n:03d}"
            turnaround = rng.randint(3, 10) if draw_assay == "ddpcr_esr1" else rng.randint(7, 16)
            if rng.random() < 0.08:
                turnaround += rng.randint(5, 20)
            reported = day + turnaround
            result = None
            lost = rng.random() < 0.01
            if reported <= today_day and not lost:
                if rng.random() < 0.05:
                    result = SynthResult(on(reported), "failed", "failed")
                    draws.append(SynthDraw(on(day), draw_assay, accession, result))
                    day = reported + rng.randint(7, 28)  # redraw
                    continue
                variants = []
                for clone in clones:
                    if day >= clone.emerges:
                        vaf = clone.vaf0 * math.exp(clone.growth * (day - clone.emerges) / 30)
                        if switch_day is not None and day >= switch_day:
                            vaf *= 0.15  # a SERD suppresses the clone; it rarely vanishes
                        variants.append((*clone.form, round(min(60.0, max(0.01, vaf)), 4)))
                if vus is not None and vus[1] <= day <= vus[2]:
                    variants.append((*vus[0], round(vus[3], 4)))
                if draw_assay in NGS_ASSAYS:
                    for form, vaf in truncal:
                        variants.append((*form, round(vaf * rng.uniform(0.6, 1.4), 4)))
                detected = any(v[3] for v in variants)
                result = SynthResult(
                    on(reported), "final", "detected" if detected else "not_detected", variants
                )
                if detected and not switch_decided:
                    switch_decided = True
                    candidate = reported + rng.randint(7, 35)
                    if (
                        rng.random() < 0.35
                        and surveillance_regimen
                        and in_scope
                        and candidate <= last_start
                        and (pd1_day is None or candidate < pd1_day)
                        and (toxicity_day is None or candidate > toxicity_day)
                    ):
                        switch_day = candidate
                        # SERENA-6: PFS 16.0 vs 9.2 months after the switch.
                        progression_day = (
                            switch_day + (max(progression_day, switch_day) - switch_day) * 1.75
                        )
                        pd1_day, line1_end = line1_end_for(max(progression_day, switch_day + 1))
            draw = SynthDraw(on(day), draw_assay, accession, result)
            if result is None:
                draw.status = "collected"
                if lost and today_day - day > 60:
                    # Chased for two months, then written off; a recent loss is still chased.
                    draw.status, draw.cancel_reason = "cancelled", "Sample lost in transit"
            draws.append(draw)
            day += interval

        # Treatment periods: (line, setting, endocrine, cdk46, start_day, end_reason at end)
        periods: list[list] = [[1, first_endocrine, first_cdk, 0]]
        if toxicity_day is not None and toxicity_day < (line1_end or last_start) and first_cdk:
            other_cdk = rng.choice([c for c, _ in CDK46_DRUGS if c != first_cdk])
            if switch_day is None or toxicity_day < switch_day:
                periods[-1].append("toxicity")
                periods.append([1, first_endocrine, other_cdk, toxicity_day])
        if switch_day is not None:
            periods[-1].append("esr1_switch")
            periods.append([1, pick_switch_serd(rng), periods[-1][2], switch_day])
        assessments = []
        pd2_day = None
        if line1_end is not None:
            periods[-1].append("progression")
            endocrine, cdk = pick_second(rng)
            periods.append([2, endocrine, cdk, line1_end])
            progression2 = line1_end + 60 + int(rng.expovariate(LN2 / 200))
            pd2_day = first_imaging_on_or_after(progression2)
            if pd2_day is not None:
                end2 = pd2_day + rng.randint(0, 21)
                if end2 <= last_start:
                    periods[-1].append("progression")
                    endocrine, cdk = pick_third(rng)
                    periods.append([3, endocrine, cdk, end2])
        if stop_day is not None:
            periods[-1].append("death" if status == "deceased" else "other")

        treatments = []
        for i, period in enumerate(periods):
            line, endocrine, cdk, start_day = period[:4]
            if len(period) > 4:
                end_day = periods[i + 1][3] if i + 1 < len(periods) else stop_day
                end_reason = period[4]
            else:
                end_day, end_reason = None, ""
            treatments.append(
                (line, "metastatic", endocrine, cdk, on(start_day),
                 on(end_day) if end_day is not None else None, end_reason)
            )  # fmt: skip
        if prior_ai:
            adjuvant_start = start - timedelta(days=rng.randint(900, 3600))
            adjuvant_end = min(
                start - timedelta(days=30), adjuvant_start + timedelta(days=rng.randint(700, 1826))
            )
            treatments.append(
                (1, "adjuvant", pick_ai(rng), "abemaciclib" if rng.random() < 0.08 else None,
                 adjuvant_start, adjuvant_end, "completed" if rng.random() < 0.6 else "progression")
            )  # fmt: skip

        for day in imaging_days:
            if day in (pd1_day, pd2_day):
                response = "PD"
            elif rng.random() < 0.03:
                response = "NE"
            else:
                response = "PR" if (r := rng.random()) < 0.45 else ("SD" if r < 0.97 else "CR")
            assessments.append((on(day), pick_modality(rng), response))

        appointments = []
        if status == "active":
            if rng.random() < 0.9:
                clinic = rng.randint(0, 28)
                appointments.append((today + timedelta(days=clinic), "clinic"))
                if rng.random() < 0.6:
                    appointments.append((today + timedelta(days=clinic + 28), "clinic"))
            upcoming_scan = imaging_days[-1] + rng.randint(70, 98) if imaging_days else 84
            if upcoming_scan - today_day <= 120 and rng.random() < 0.8:
                appointments.append((on(max(upcoming_scan, today_day)), "imaging"))

        patient = (
            f"{MRN_PREFIX}{index:07d}", given, family, birth, sex, er, pr, her2, metastatic_on,
            sites, prior_ai, high_burden, status, enrolled,
        )  # fmt: skip
        return SynthPatient(
            patient=patient,
            oncologist_slot=index % self.oncologists,
            treatments=treatments,
            assessments=assessments,
            appointments=appointments,
            draws=draws,
        )


# --- Writing -------------------------------------------------------------------------------

PATIENT_COLUMNS = (
    "mrn", "given_name", "family_name", "birth_date", "sex", "er_status", "pr_status",
    "her2_status", "metastatic_diagnosis_date", "metastatic_sites", "prior_adjuvant_ai",
    "high_tumour_burden", "status", "enrolled_on", "id", "oncologist_id", "created_at",
    "updated_at",
)  # fmt: skip
TREATMENT_COLUMNS = (
    "line_number", "setting", "endocrine_therapy_id", "cdk46_inhibitor_id", "start_date",
    "end_date", "end_reason", "patient_id", "created_at", "updated_at",
)  # fmt: skip
ASSESSMENT_COLUMNS = ("date", "modality", "response", "patient_id", "note", "created_at")
APPOINTMENT_COLUMNS = ("date", "kind", "patient_id", "note", "created_at")
DRAW_COLUMNS = (
    "id", "patient_id", "status", "due_date", "collected_on", "assay", "accession", "pinned",
    "cancel_reason", "created_at", "updated_at",
)  # fmt: skip
RESULT_COLUMNS = ("id", "draw_id", "reported_on", "status", "esr1_status", "comment", "created_at")
VARIANT_COLUMNS = (
    "gene", "protein_change", "short", "esr1_activating", "esr1_vus", "vaf_percent", "result_id"
)  # fmt: skip

TABLE_ORDER = (Patient, Treatment, Assessment, Appointment, Draw, Result, Variant)


def _check_columns() -> None:
    """COPY names its columns; a NOT NULL column added to a model later without a database
    default would make the load fail deep inside Postgres, so say so up front."""
    written = {
        Patient: PATIENT_COLUMNS, Treatment: TREATMENT_COLUMNS, Assessment: ASSESSMENT_COLUMNS,
        Appointment: APPOINTMENT_COLUMNS, Draw: DRAW_COLUMNS, Result: RESULT_COLUMNS,
        Variant: VARIANT_COLUMNS,
    }  # fmt: skip
    for model, columns in written.items():
        for f in model._meta.concrete_fields:
            if (
                f.column in columns
                or f.null
                or f.primary_key
                or f.db_default is not models.NOT_PROVIDED
            ):
                continue
            raise CommandError(
                f"seed_cohort does not fill {model._meta.db_table}.{f.column}; "
                "add it to the column lists in surveillance/management/commands/seed_cohort.py"
            )


class _Progress:
    def __init__(self, total: int, *, enabled: bool):
        self.total, self.enabled, self.started = total, enabled, time.monotonic()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed else 0
        width = 30
        filled = int(width * done / self.total) if self.total else width
        sys.stderr.write(
            f"\r  patients [{'#' * filled}{'.' * (width - filled)}] {done:,}/{self.total:,}"
            f"  {elapsed:5.1f}s  {rate:,.0f}/s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _reserve_ids(cursor, model, count: int) -> list[int]:
    if count == 0:
        return []
    table = model._meta.db_table
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        [table, count],
    )
    return sorted(row[0] for row in cursor.fetchall())


def _copy(cursor, model, columns, rows) -> None:
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def synthetic_patients():
    return Patient.objects.filter(mrn__regex=MRN_PATTERN)


def delete_synthetic_cohort() -> dict[str, int]:
    """Delete the synthetic patients and every row that references them, children first.

    The tables are found through the foreign keys Postgres enforces (history tables keep
    their rows: they are append-only and point at objects without a constraint)."""
    viewed = PatientAccess.objects.filter(patient__mrn__regex=MRN_PATTERN)
    if viewed.exists():
        # The access log is append-only evidence; it is not ours to rewrite, even for fakes.
        n = viewed.values("patient").distinct().count()
        raise CommandError(
            f"{n} synthetic patients were opened by a user and are in the record-access log, "
            "which cannot be changed, so this cohort cannot be replaced here. Load the new "
            "cohort into a fresh database instead (bench/engine_bench.py makes its own)."
        )
    counts: dict[str, int] = {}
    root_sql = f"SELECT id FROM {Patient._meta.db_table} WHERE mrn ~ %s"  # noqa: S608
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _delete_tree(cursor, Patient, root_sql, [MRN_PATTERN], counts, depth=0)
    except DatabaseError as exc:  # e.g. another append-only table added later
        raise CommandError(f"Could not delete the previous synthetic cohort: {exc}") from exc
    return counts


def _delete_tree(cursor, model, pk_sql: str, params: list, counts: dict, *, depth: int) -> None:
    # Table and column names below come from model metadata, never from input.
    if depth > 6:
        raise CommandError(f"foreign keys to {model._meta.label} nest too deep to delete safely")
    for rel in model._meta.related_objects:
        if rel.many_to_many or not getattr(rel.field, "db_constraint", True):
            continue
        child = rel.related_model
        select = f"SELECT {child._meta.pk.column} FROM {child._meta.db_table}"  # noqa: S608
        child_sql = f"{select} WHERE {rel.field.column} IN ({pk_sql})"
        _delete_tree(cursor, child, child_sql, params, counts, depth=depth + 1)
    table = model._meta.db_table
    delete = f"DELETE FROM {table} WHERE {model._meta.pk.column} IN ({pk_sql})"  # noqa: S608
    cursor.execute(delete, params)
    counts[table] = counts.get(table, 0) + cursor.rowcount


def cohort_oncologists(count: int) -> list[User]:
    """cohort.onc001 ... with role oncologist and no usable password (nobody logs in as
    them); existing ones are reused so a replaced cohort keeps its oncologists."""
    usernames = [f"{ONCOLOGIST_PREFIX}{i:03d}" for i in range(1, count + 1)]
    existing = {u.username: u for u in User.objects.filter(username__in=usernames)}
    users = []
    for i, username in enumerate(usernames, start=1):
        user = existing.get(username)
        if user is None:
            user = User(
                username=username, first_name="Cohort", last_name=f"Oncologist {i:03d}",
                email=f"{username}@example.invalid", role=Role.ONCOLOGIST,
            )  # fmt: skip
            user.set_unusable_password()
            user.save()
        if user.role != Role.ONCOLOGIST or not user.groups.filter(name=Role.ONCOLOGIST).exists():
            user_set_role(user=user, role=Role.ONCOLOGIST)
        users.append(user)
    return users


@dataclass
class LoadStats:
    rows: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    generate_seconds: float = 0.0
    copy_seconds: float = 0.0
    table_seconds: dict[str, float] = field(default_factory=dict)
    commit_seconds: float = 0.0

    def add(self, model, count: int, seconds: float) -> None:
        table = model._meta.db_table
        self.rows[table] = self.rows.get(table, 0) + count
        self.table_seconds[table] = self.table_seconds.get(table, 0.0) + seconds


def seed_cohort(
    *, patients: int, seed: int = 1, today: date | None = None, replace: bool = False,
    audit: bool = True, progress: bool = False,
) -> LoadStats:  # fmt: skip
    """Load the cohort in one transaction and return row counts and timings."""
    if patients < 1:
        raise CommandError("--patients must be at least 1, e.g. --patients 10000")
    if patients > 9_999_999:
        raise CommandError("--patients is at most 9,999,999 (MRNs are SYN + 7 digits)")
    _check_columns()
    today = today or clinic_today()
    stats = LoadStats()
    started = time.monotonic()
    metadata = {"source": "seed_cohort", "patients": patients, "seed": seed,
                "as_of": today.isoformat(), "replace": replace, "audit": audit}  # fmt: skip
    with (
        transaction.atomic(),
        pghistory.context(**metadata) as context,
        connection.cursor() as django_cursor,
    ):
        raw = django_cursor.connection  # the psycopg 3 connection, same transaction
        with raw.cursor() as cursor:
            _prepare_triggers(cursor, context, audit=audit)
            # Django's foreign keys are checked at commit by default; checking each COPY as it
            # ends costs the same and keeps the progress bar honest (no long silent commit).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            if synthetic_patients().exists():
                if not replace:
                    raise CommandError(
                        "A synthetic cohort (MRNs SYN0000000...) is already loaded; "
                        "add --replace to delete it and load the new one."
                    )
                stats.deleted = delete_synthetic_cohort()
            n_oncologists = max(3, round(patients / PATIENTS_PER_ONCOLOGIST))
            oncologist_ids = [u.id for u in cohort_oncologists(n_oncologists)]
            model = CohortModel(seed=seed, today=today, oncologists=n_oncologists)
            now = timezone.now()
            bar = _Progress(patients, enabled=progress)
            chunks = [range(i, min(patients, i + CHUNK)) for i in range(0, patients, CHUNK)]

            def generate(indexes: range) -> tuple[list[SynthPatient], float]:
                t0 = time.monotonic()
                return [model.patient(i) for i in indexes], time.monotonic() - t0

            # Generating chunk k+1 (Python) overlaps with Postgres digesting chunk k's COPY:
            # the COPY waits on the socket without the GIL, so the two cores both work.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-cohort") as pool:
                pending = pool.submit(generate, chunks[0])
                for k, indexes in enumerate(chunks):
                    chunk, generate_seconds = pending.result()
                    if k + 1 < len(chunks):
                        pending = pool.submit(generate, chunks[k + 1])
                    t1 = time.monotonic()
                    _write_chunk(cursor, chunk, oncologist_ids, now, stats)
                    stats.generate_seconds += generate_seconds
                    stats.copy_seconds += time.monotonic() - t1
                    bar.update(indexes.stop)
            bar.close()
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # back to Django's default
            commit_started = time.monotonic()
    stats.commit_seconds = time.monotonic() - commit_started
    stats.seconds = time.monotonic() - started
    return stats


def _prepare_triggers(cursor, context, *, audit: bool) -> None:
    """Set, for this transaction, the two settings the history triggers read.

    COPY bypasses Django's execute wrappers, so pghistory cannot attach its context to it;
    we attach it by hand and every history row of the load points at one context row.

    Both settings are set even when there is nothing to ignore: the trigger functions read
    them with current_setting() inside an EXCEPTION block, and a setting that was never set
    raises there. Catching that costs a subtransaction rollback per row and setting (about
    150 us each on a 2-core machine, 6x the cost of the insert itself); an empty ignore
    list keeps every trigger firing without it.
    """
    cursor.execute(
        "SELECT set_config('pghistory.context_id', %s, true), "
        "set_config('pghistory.context_metadata', %s, true), "
        "set_config('pgtrigger.ignore', %s, true)",
        [str(context.id), json.dumps(context.metadata), _ignore_list(audit=audit)],
    )


def _ignore_list(*, audit: bool) -> str:
    if audit:
        return "{}"
    return history_trigger_ignore_list(pgtrigger.Insert, pgtrigger.Delete)


def _write_chunk(cursor, chunk: list[SynthPatient], oncologist_ids, now: datetime, stats) -> None:
    patient_ids = _reserve_ids(cursor, Patient, len(chunk))
    draw_ids = iter(_reserve_ids(cursor, Draw, sum(len(p.draws) for p in chunk)))
    n_results = sum(1 for p in chunk for d in p.draws if d.result is not None)
    result_ids = iter(_reserve_ids(cursor, Result, n_results))

    treatments, assessments, appointments = [], [], []
    draws, results, variants = [], [], []
    patients = []
    for pid, synth in zip(patient_ids, chunk, strict=True):
        patients.append((*synth.patient, pid, oncologist_ids[synth.oncologist_slot], now, now))
        treatments.extend((*t, pid, now, now) for t in synth.treatments)
        assessments.extend((*a, pid, "", now) for a in synth.assessments)
        appointments.extend((*a, pid, "", now) for a in synth.appointments)
        for d in synth.draws:
            did = next(draw_ids)
            result = d.result
            draws.append(
                (did, pid, d.status, None, d.collected_on, d.assay, d.accession, False,
                 d.cancel_reason, now, now)
            )  # fmt: skip
            if result is not None:
                rid = next(result_ids)
                results.append(
                    (rid, did, result.reported_on, result.status, result.esr1_status, "", now)
                )
                variants.extend((*v, rid) for v in result.variants)

    for model, columns, rows in (
        (Patient, PATIENT_COLUMNS, patients),
        (Treatment, TREATMENT_COLUMNS, treatments),
        (Assessment, ASSESSMENT_COLUMNS, assessments),
        (Appointment, APPOINTMENT_COLUMNS, appointments),
        (Draw, DRAW_COLUMNS, draws),
        (Result, RESULT_COLUMNS, results),
        (Variant, VARIANT_COLUMNS, variants),
    ):
        started = time.monotonic()
        _copy(cursor, model, columns, rows)
        stats.add(model, len(rows), time.monotonic() - started)


class Command(BaseCommand):
    help = (
        "Load a large deterministic synthetic cohort (MRNs SYN0000000...) for benchmarks. "
        "Same --patients, --seed and --as-of give the same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True, metavar="N")
        parser.add_argument("--seed", type=int, default=1, metavar="S")
        parser.add_argument(
            "--as-of", metavar="YYYY-MM-DD", help="the cohort's today (default: today)"
        )
        parser.add_argument(
            "--replace", action="store_true", help="delete the synthetic cohort loaded before"
        )
        parser.add_argument(
            "--no-audit",
            action="store_true",
            help="skip the pghistory insert/delete triggers for this load (measurement only: "
            "the load then leaves no history rows, just the one pghistory context row)",
        )

    def handle(self, *args, patients, seed, as_of=None, replace=False, no_audit=False, **opts):
        today = None
        if as_of:
            try:
                today = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(
                    f"--as-of {as_of!r} is not a date; type it as YYYY-MM-DD, "
                    "e.g. --as-of 2026-06-15"
                ) from None
        stats = seed_cohort(
            patients=patients, seed=seed, today=today, replace=replace, audit=not no_audit,
            progress=opts.get("verbosity", 1) >= 1,
        )  # fmt: skip
        if opts.get("verbosity", 1) < 1:
            return
        if stats.deleted:
            removed = ", ".join(f"{t} {n:,}" for t, n in stats.deleted.items() if n)
            self.stdout.write(f"replaced the previous synthetic cohort (deleted {removed})")
        width = max(len(t) for t in stats.rows)
        for table, count in stats.rows.items():
            self.stdout.write(f"  {table:<{width}}  {count:>10,}")
        total = sum(stats.rows.values())
        self.stdout.write(
            f"seeded {patients:,} patients ({total:,} rows, seed {seed}, "
            f"audit {'on' if not no_audit else 'off'}) in {stats.seconds:.1f} s "
            f"(generating {stats.generate_seconds:.1f} s, overlapped with COPY "
            f"{stats.copy_seconds:.1f} s; commit {stats.commit_seconds:.1f} s)"
        )

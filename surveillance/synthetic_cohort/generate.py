"""One synthetic patient at a time: who she is, how her disease runs, what was drawn and found.

Each patient is drawn from her own random stream, seeded by (seed, index), and every random
call below happens in a fixed order: a call added, dropped or moved changes every later
value of that patient. tests/surveillance/test_seed_cohort.py pins a seed's rows. Days are
counted from the first-line start.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from surveillance.synthetic_cohort.mix import (
    CDK46_DRUGS,
    FAMILY_NAMES,
    GIVEN_NAMES,
    NGS_ASSAYS,
    VARIANT_FORMS,
    pick_ai,
    pick_any_site,
    pick_assay,
    pick_cdk46,
    pick_clone,
    pick_modality,
    pick_non_visceral,
    pick_pik3ca,
    pick_second,
    pick_switch_serd,
    pick_third,
    pick_tp53,
    pick_visceral,
    pick_vus,
)

MRN_PREFIX = "SYN"
MRN_PATTERN = r"^SYN[0-9]{7}$"
LN2 = math.log(2)


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
    patient: tuple  # load.PATIENT_COLUMNS minus id, oncologist_id and the timestamps
    oncologist_slot: int
    treatments: list[tuple] = field(default_factory=list)
    assessments: list[tuple] = field(default_factory=list)
    appointments: list[tuple] = field(default_factory=list)
    draws: list[SynthDraw] = field(default_factory=list)


class CohortModel:
    """Draws one synthetic patient at a time."""

    def __init__(self, *, seed: int, today: date, oncologists: int):
        self.seed = seed
        self.today = today
        self.oncologists = oncologists

    def rng_for(self, index: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + index)

    def patient(self, index: int) -> SynthPatient:
        rng = self.rng_for(index)
        start = self.today - timedelta(days=rng.randint(7, 1095))
        course = _Course(rng=rng, start=start, today_day=(self.today - start).days)
        person = _person(rng, start=start, today=self.today)
        _follow_up(course)
        endocrine, cdk46 = _first_line(rng)
        can_switch = endocrine != "fulvestrant" and cdk46 is not None and person.in_scope
        tumour = _Tumour(clones=_esr1_clones(course), vus=_vus(rng), truncal=_truncal(rng))
        course.toxicity_day = int(rng.uniform(20, 240)) if rng.random() < 0.06 else None
        course.imaging_days = _imaging_days(rng, course.horizon)
        course.end_first_line(course.progression_day)
        draws = _draws(
            course, tumour, index=index, usual_assay=pick_assay(rng),
            high_risk=person.high_risk, can_switch=can_switch,
        )  # fmt: skip
        treatments = _metastatic_treatments(course, _periods(course, endocrine, cdk46))
        if person.prior_ai:
            treatments.append(_adjuvant(rng, start))
        return SynthPatient(
            patient=person.row(index, status=course.status),
            oncologist_slot=index % self.oncologists,
            treatments=treatments,
            assessments=_assessments(course),
            appointments=_appointments(course, today=self.today),
            draws=draws,
        )


# --- Who she is ----------------------------------------------------------------------------


@dataclass
class _Person:
    sex: str
    er: str
    pr: str
    her2: str
    visceral: bool
    sites: list[str]
    prior_ai: bool
    high_burden: bool
    metastatic_on: date
    birth: date
    enrolled: date
    given: str
    family: str

    @property
    def in_scope(self) -> bool:
        return "positive" in (self.er, self.pr) and self.her2 != "positive"

    @property
    def high_risk(self) -> bool:
        """High risk from the start (rule 3 without the days on treatment)."""
        return self.prior_ai or self.visceral or len(self.sites) >= 3 or self.high_burden

    def row(self, index: int, *, status: str) -> tuple:
        return (
            f"{MRN_PREFIX}{index:07d}", self.given, self.family, self.birth, self.sex, self.er,
            self.pr, self.her2, self.metastatic_on, self.sites, self.prior_ai, self.high_burden,
            status, self.enrolled,
        )  # fmt: skip


def _person(rng: random.Random, *, start: date, today: date) -> _Person:
    sex = "male" if rng.random() < 0.01 else "female"
    er, pr, her2 = _receptors(rng)
    visceral = rng.random() < 0.5
    sites = _sites(rng, visceral=visceral)
    prior_ai = rng.random() < 0.35
    high_burden = rng.random() < 0.2
    metastatic_on = start - timedelta(days=rng.randint(0, 45))
    age = min(90.0, max(30.0, rng.gauss(62, 11)))
    birth = metastatic_on - timedelta(days=int(age * 365.25) + rng.randint(0, 364))
    enrolled = min(today, start + timedelta(days=rng.randint(0, 21)))
    given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
    return _Person(
        sex, er, pr, her2, visceral, sites, prior_ai, high_burden, metastatic_on, birth,
        enrolled, given, family,
    )  # fmt: skip


def _receptors(rng: random.Random) -> tuple[str, str, str]:
    er = "positive" if (r := rng.random()) < 0.985 else ("negative" if r < 0.997 else "unknown")
    if er == "positive":
        pr = "positive" if (r := rng.random()) < 0.72 else ("negative" if r < 0.98 else "unknown")
    else:
        pr = "positive" if rng.random() < 0.3 else "negative"
    her2 = "negative" if (r := rng.random()) < 0.975 else ("positive" if r < 0.99 else "unknown")
    return er, pr, her2


def _sites(rng: random.Random, *, visceral: bool) -> list[str]:
    n_sites = rng.choices((1, 2, 3, 4), cum_weights=(40, 70, 90, 100))[0]
    sites: list[str] = [pick_visceral(rng)] if visceral else []
    pool = pick_any_site if visceral else pick_non_visceral
    for _ in range(40):
        if len(sites) >= n_sites:
            break
        site = pool(rng)
        if site not in sites:
            sites.append(site)
    return sites


def _first_line(rng: random.Random) -> tuple[str, str | None]:
    """First-line endocrine therapy and CDK4/6 inhibitor."""
    endocrine, cdk46 = pick_ai(rng), pick_cdk46(rng)
    r = rng.random()
    if r < 0.04:
        endocrine = "fulvestrant"  # relapsed on adjuvant AI: SERD first line
    elif r < 0.06:
        cdk46 = None  # AI alone (frail, or CDK4/6 not reimbursed)
    return endocrine, cdk46


# --- How her disease runs ------------------------------------------------------------------


@dataclass
class _Course:
    """The patient's course, in days from the first-line start; the draws loop changes it
    (a switch to a SERD delays progression and the end of first line)."""

    rng: random.Random
    start: date
    today_day: int
    status: str = "active"
    stop_day: int | None = None  # follow-up stopped (death, or lost to follow-up)
    horizon: int = 0  # the last day followed
    last_start: int = 0  # the last day a treatment may start
    progression_day: float = 0
    toxicity_day: int | None = None
    imaging_days: list[int] = field(default_factory=list)
    pd1_day: int | None = None  # progression seen on imaging, first and second line
    pd2_day: int | None = None
    line1_end: int | None = None
    switch_day: int | None = None
    switch_decided: bool = False

    def on(self, day: int) -> date:
        return self.start + timedelta(days=day)

    def first_imaging_on_or_after(self, target: float) -> int | None:
        return next((d for d in self.imaging_days if d >= target), None)

    def end_first_line(self, progression: float) -> None:
        """Progression shows on the first scan after it; first line ends up to three weeks
        later, unless that is past the last day a treatment may start."""
        self.pd1_day = self.first_imaging_on_or_after(progression)
        self.line1_end = None
        if self.pd1_day is not None:
            end = self.pd1_day + self.rng.randint(0, 21)
            self.line1_end = end if end <= self.last_start else None


def _follow_up(course: _Course) -> None:
    """Who stops being followed, and when."""
    rng, today_day = course.rng, course.today_day
    r = rng.random()
    if r < 0.025 and today_day > 90:
        course.status, course.stop_day = "deceased", rng.randint(60, today_day - 1)
    elif r < 0.06 and today_day > 60:
        course.status, course.stop_day = "inactive", rng.randint(30, today_day - 1)
    course.horizon = today_day if course.stop_day is None else course.stop_day
    # A new treatment may start today, but not on the day follow-up stops (it would end the
    # day it starts).
    course.last_start = today_day if course.stop_day is None else course.stop_day - 1


@dataclass
class _Clone:
    form: tuple
    emerges: int  # day from first-line start
    vaf0: float
    growth: float  # log-VAF per 30 days


def _lognormal_vaf(rng: random.Random, median: float, sigma: float, low: float, high: float):
    return min(high, max(low, math.exp(rng.gauss(math.log(median), sigma))))


def _esr1_clones(course: _Course) -> list[_Clone]:
    """When ESR1 clones emerge, if they do, and when the disease progresses."""
    rng = course.rng
    if rng.random() >= 0.5:
        course.progression_day = 60 + int(rng.expovariate(LN2 / 800))
        return []
    emerges = int(rng.uniform(60, 720))
    shorts = [pick_clone(rng)]
    if rng.random() < 0.3:  # polyclonal: one or two more activating mutations later
        for _ in range(rng.choice((1, 1, 2))):
            extra = pick_clone(rng)
            if extra not in shorts:
                shorts.append(extra)
    clones = [
        _Clone(
            form=VARIANT_FORMS[("ESR1", short)],
            emerges=emerges if i == 0 else emerges + rng.randint(30, 240),
            vaf0=_lognormal_vaf(rng, 0.4, 1.0, 0.02, 30.0),
            growth=rng.uniform(0.05, 0.35),
        )
        for i, short in enumerate(shorts)
    ]
    # ESR1 is seen a median of 3-7 months before radiographic progression.
    course.progression_day = emerges + int(rng.uniform(60, 300))
    return clones


def _vus(rng: random.Random) -> tuple | None:
    """An ESR1 VUS seen on one to a few draws: low-level, often clonal haematopoiesis."""
    if rng.random() >= 0.015:
        return None
    seen_from = rng.randint(0, 600)
    seen_until = seen_from + rng.randint(0, 150)
    form = VARIANT_FORMS[("ESR1", pick_vus(rng))]
    return form, seen_from, seen_until, _lognormal_vaf(rng, 0.6, 0.8, 0.05, 20.0)


def _truncal(rng: random.Random) -> list[tuple]:
    """PIK3CA and TP53 mutations present throughout, seen by the NGS panels."""
    truncal = []
    if rng.random() < 0.35:
        truncal.append((VARIANT_FORMS[("PIK3CA", pick_pik3ca(rng))], rng.uniform(0.5, 15)))
    if rng.random() < 0.15:
        truncal.append((VARIANT_FORMS[("TP53", pick_tp53(rng))], rng.uniform(0.3, 10)))
    return truncal


def _imaging_days(rng: random.Random, horizon: int) -> list[int]:
    """Imaging every ~12 weeks from about 3 months in."""
    days = []
    day = rng.randint(70, 98)
    while day <= horizon:
        days.append(day)
        day += rng.randint(70, 98)
    return days


# --- What was drawn and found --------------------------------------------------------------


@dataclass
class _Tumour:
    clones: list[_Clone]
    vus: tuple | None  # (form, seen from day, seen until day, vaf)
    truncal: list[tuple]  # (form, vaf)

    def variants(self, course: _Course, day: int, assay: str) -> list[tuple]:
        """What a sample taken on `day` shows."""
        variants = []
        for clone in self.clones:
            if day >= clone.emerges:
                vaf = clone.vaf0 * math.exp(clone.growth * (day - clone.emerges) / 30)
                if course.switch_day is not None and day >= course.switch_day:
                    vaf *= 0.15  # a SERD suppresses the clone; it rarely vanishes
                variants.append((*clone.form, round(min(60.0, max(0.01, vaf)), 4)))
        if self.vus is not None and self.vus[1] <= day <= self.vus[2]:
            variants.append((*self.vus[0], round(self.vus[3], 4)))
        if assay in NGS_ASSAYS:
            for form, vaf in self.truncal:
                variants.append((*form, round(vaf * course.rng.uniform(0.6, 1.4), 4)))
        return variants


def _draws(
    course: _Course, tumour: _Tumour, *, index: int, usual_assay: str, high_risk: bool,
    can_switch: bool,
) -> list[SynthDraw]:  # fmt: skip
    """ctDNA draws during first line, every 8-12 weeks with real-world slippage."""
    rng = course.rng
    draws: list[SynthDraw] = []
    day = rng.randint(0, 14)  # baseline sample
    while day <= course.horizon and (course.line1_end is None or day < course.line1_end):
        interval = _slipped(rng, 56 if high_risk or day >= 182 else 84)
        if rng.random() < 0.05:  # missed draw: nothing collected this round
            day += interval
            continue
        accession = f"{MRN_PREFIX}{index:07d}-{len(draws) + 1:03d}"
        draw, redraw_day = _sample(
            course, tumour, day, accession=accession, usual_assay=usual_assay,
            can_switch=can_switch,
        )  # fmt: skip
        draws.append(draw)
        day = redraw_day if redraw_day is not None else day + interval
    return draws


def _slipped(rng: random.Random, interval: int) -> int:
    slip = rng.random()
    if slip < 0.15:
        return interval - rng.randint(1, 7)
    if slip < 0.6:
        return interval + rng.randint(0, 3)
    if slip < 0.88:
        return interval + rng.randint(4, 14)
    return interval + rng.randint(15, 45)


def _sample(
    course: _Course, tumour: _Tumour, day: int, *, accession: str, usual_assay: str,
    can_switch: bool,
) -> tuple[SynthDraw, int | None]:  # fmt: skip
    """One sample and its result, if reported by today; and the day of the redraw a failed
    result asks for."""
    rng = course.rng
    assay = usual_assay if rng.random() < 0.9 else pick_assay(rng)
    turnaround = rng.randint(3, 10) if assay == "ddpcr_esr1" else rng.randint(7, 16)
    if rng.random() < 0.08:
        turnaround += rng.randint(5, 20)
    reported = day + turnaround
    lost = rng.random() < 0.01
    if reported > course.today_day or lost:
        draw = SynthDraw(course.on(day), assay, accession, None, status="collected")
        if lost and course.today_day - day > 60:
            # Chased for two months, then written off; a recent loss is still chased.
            draw.status, draw.cancel_reason = "cancelled", "Sample lost in transit"
        return draw, None
    if rng.random() < 0.05:
        failed = SynthResult(course.on(reported), "failed", "failed")
        return SynthDraw(course.on(day), assay, accession, failed), reported + rng.randint(7, 28)
    variants = tumour.variants(course, day, assay)
    detected = any(v[3] for v in variants)
    result = SynthResult(
        course.on(reported), "final", "detected" if detected else "not_detected", variants
    )
    if detected and not course.switch_decided:
        _decide_switch(course, reported=reported, can_switch=can_switch)
    return SynthDraw(course.on(day), assay, accession, result), None


def _decide_switch(course: _Course, *, reported: int, can_switch: bool) -> None:
    """The first ESR1 finding: about a third switch to a SERD, within five weeks, when the
    regimen and the tumour allow it and nothing else ended first line by then."""
    rng = course.rng
    course.switch_decided = True
    candidate = reported + rng.randint(7, 35)
    if (
        rng.random() < 0.35
        and can_switch
        and candidate <= course.last_start
        and (course.pd1_day is None or candidate < course.pd1_day)
        and (course.toxicity_day is None or candidate > course.toxicity_day)
    ):
        course.switch_day = candidate
        # SERENA-6: PFS 16.0 vs 9.2 months after the switch.
        course.progression_day = (
            candidate + (max(course.progression_day, candidate) - candidate) * 1.75
        )
        course.end_first_line(max(course.progression_day, candidate + 1))


# --- Treatments, scans and appointments ------------------------------------------------------


def _periods(course: _Course, endocrine: str, cdk46: str | None) -> list[list]:
    """Metastatic treatment periods: [line, endocrine, cdk46, start day, end reason if ended]."""
    rng = course.rng
    periods: list[list] = [[1, endocrine, cdk46, 0]]
    toxicity = course.toxicity_day
    if toxicity is not None and toxicity < (course.line1_end or course.last_start) and cdk46:
        other_cdk = rng.choice([c for c, _ in CDK46_DRUGS if c != cdk46])
        if course.switch_day is None or toxicity < course.switch_day:
            periods[-1].append("toxicity")
            periods.append([1, endocrine, other_cdk, toxicity])
    if course.switch_day is not None:
        periods[-1].append("esr1_switch")
        periods.append([1, pick_switch_serd(rng), periods[-1][2], course.switch_day])
    if course.line1_end is not None:
        periods[-1].append("progression")
        periods.append([2, *pick_second(rng), course.line1_end])
        progression2 = course.line1_end + 60 + int(rng.expovariate(LN2 / 200))
        course.pd2_day = course.first_imaging_on_or_after(progression2)
        if course.pd2_day is not None:
            end2 = course.pd2_day + rng.randint(0, 21)
            if end2 <= course.last_start:
                periods[-1].append("progression")
                periods.append([3, *pick_third(rng), end2])
    if course.stop_day is not None:
        periods[-1].append("death" if course.status == "deceased" else "other")
    return periods


def _metastatic_treatments(course: _Course, periods: list[list]) -> list[tuple]:
    treatments = []
    for i, period in enumerate(periods):
        line, endocrine, cdk46, start_day = period[:4]
        if len(period) > 4:
            end_day = periods[i + 1][3] if i + 1 < len(periods) else course.stop_day
            end_reason = period[4]
        else:
            end_day, end_reason = None, ""
        treatments.append(
            (line, "metastatic", endocrine, cdk46, course.on(start_day),
             course.on(end_day) if end_day is not None else None, end_reason)
        )  # fmt: skip
    return treatments


def _adjuvant(rng: random.Random, start: date) -> tuple:
    """The adjuvant AI of a patient with prior_adjuvant_ai."""
    adjuvant_start = start - timedelta(days=rng.randint(900, 3600))
    adjuvant_end = min(
        start - timedelta(days=30), adjuvant_start + timedelta(days=rng.randint(700, 1826))
    )
    return (
        1, "adjuvant", pick_ai(rng), "abemaciclib" if rng.random() < 0.08 else None,
        adjuvant_start, adjuvant_end, "completed" if rng.random() < 0.6 else "progression",
    )  # fmt: skip


def _assessments(course: _Course) -> list[tuple]:
    rng = course.rng
    assessments = []
    for day in course.imaging_days:
        if day in (course.pd1_day, course.pd2_day):
            response = "PD"
        elif rng.random() < 0.03:
            response = "NE"
        else:
            response = "PR" if (r := rng.random()) < 0.45 else ("SD" if r < 0.97 else "CR")
        assessments.append((course.on(day), pick_modality(rng), response))
    return assessments


def _appointments(course: _Course, *, today: date) -> list[tuple]:
    """The next clinic visits and scan of a patient still followed."""
    if course.status != "active":
        return []
    rng = course.rng
    appointments = []
    if rng.random() < 0.9:
        clinic = rng.randint(0, 28)
        appointments.append((today + timedelta(days=clinic), "clinic"))
        if rng.random() < 0.6:
            appointments.append((today + timedelta(days=clinic + 28), "clinic"))
    scans = course.imaging_days
    upcoming_scan = scans[-1] + rng.randint(70, 98) if scans else 84
    if upcoming_scan - course.today_day <= 120 and rng.random() < 0.8:
        appointments.append((course.on(max(upcoming_scan, course.today_day)), "imaging"))
    return appointments

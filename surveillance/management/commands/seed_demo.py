"""Demo users and a small demo cohort covering the situations of SPEC section 5.

Idempotent: users are matched by username and patients by MRN (DEMO-0001 ...); a patient
that exists is left exactly as it is, so re-running changes nothing. Each patient is
written in one transaction, so an interrupted run leaves whole patients or none. Dates are
relative to the clinic's today, so the cohort always looks current on a fresh database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pghistory
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create, user_set_role
from patients.models import Appointment, Assessment, Patient, Treatment, clinic_today
from patients.outbox import patient_changed
from surveillance import engine
from surveillance.services import draw_record, result_record
from surveillance.synthetic_cohort import MRN_PREFIX as SYNTHETIC_PREFIX
from surveillance.synthetic_cohort import seed_cohort
from surveillance.synthetic_cohort.history import add_programme_history

DEMO_PASSWORD = "esr1-demo-2026"
DEMO_USERS = [
    ("dr.osei", Role.ONCOLOGIST, "Ada", "Osei"),
    ("nurse.park", Role.NURSE, "Kim", "Park"),
    ("admin.lee", Role.ADMIN, "Lee", "Morgan"),
]
DEMO_ONCOLOGIST = "dr.osei"
DEMO_NURSE = "nurse.park"
MRN_PREFIX = "DEMO-"


# --------------------------------------------------------------------------------------------
# The cohort. Offsets are days relative to the clinic's today (negative = in the past).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tx:
    start: int
    endocrine: str | None
    cdk46: str | None
    line: int = 1
    setting: str = "metastatic"
    end: int | None = None
    end_reason: str = ""


@dataclass(frozen=True)
class Sample:
    collected: int
    assay: str = "guardant360_cdx"
    reported: int | None = None  # None: no result yet
    status: str = "final"
    variants: tuple[tuple[str, str, str], ...] = ()  # (gene, protein change, VAF %)
    comment: str = ""


@dataclass(frozen=True)
class Demo:
    number: int
    given_name: str
    family_name: str
    birth_date: date
    sites: tuple[str, ...]
    treatments: tuple[Tx, ...]
    samples: tuple[Sample, ...] = ()
    assessments: tuple[tuple[int, str, str], ...] = ()  # (offset, modality, response)
    appointments: tuple[tuple[int, str], ...] = ()  # (offset, kind)
    prior_adjuvant_ai: bool = False
    high_tumour_burden: bool = False
    sex: str = "female"
    situation: str = ""  # shown when the patient is created

    @property
    def mrn(self) -> str:
        return f"{MRN_PREFIX}{self.number:04d}"


def _negative(collected: int, assay: str = "guardant360_cdx", *others) -> Sample:
    return Sample(collected, assay, reported=collected + 9, variants=tuple(others))


# fmt: off
COHORT: tuple[Demo, ...] = (
    Demo(
        1, "Margaret", "Ellison", date(1961, 4, 12), ("bone",),
        (Tx(-21, "letrozole", "palbociclib"),),
        situation="started first line three weeks ago; first draw not yet due",
    ),
    Demo(
        2, "Priya", "Raman", date(1969, 9, 3), ("liver", "bone"),
        (
            Tx(-2400, "anastrozole", None, setting="adjuvant", end=-900, end_reason="completed"),
            Tx(-63, "letrozole", "ribociclib"),
        ),
        appointments=((20, "imaging"),),
        prior_adjuvant_ai=True,
        situation="high risk (liver metastases, prior adjuvant AI); first draw due now",
    ),
    Demo(
        3, "Helen", "Carter", date(1957, 1, 28), ("bone", "lymph_node"),
        (Tx(-300, "anastrozole", "palbociclib"),),
        samples=(
            _negative(-272, "guardant360_cdx", ("PIK3CA", "H1047R", "4.2")),
            _negative(-214, "guardant360_cdx", ("PIK3CA", "H1047R", "3.1")),
            _negative(-158, "guardant360_cdx", ("PIK3CA", "H1047R", "2.7")),
            _negative(-102, "ddpcr_esr1"),
            _negative(-46, "guardant360_cdx", ("PIK3CA", "H1047R", "2.2")),
        ),
        assessments=((-200, "ct", "PR"), (-110, "ct", "SD"), (-20, "ct", "SD")),
        situation="ten months on treatment, five negative results",
    ),
    Demo(
        4, "Joan", "Whitfield", date(1958, 6, 30), ("bone", "lymph_node"),
        (Tx(-250, "letrozole", "palbociclib"),),
        samples=(
            _negative(-222),
            _negative(-166, "ddpcr_esr1"),
            _negative(-110),
            Sample(
                -28, "guardant360_cdx", reported=-18,
                variants=(
                    ("ESR1", "D538G", "0.4"),
                    ("ESR1", "p.Tyr537Ser", "1.1"),
                    ("PIK3CA", "E545K", "6.8"),
                ),
            ),
        ),
        assessments=((-120, "ct", "SD"), (-30, "ct", "SD")),
        appointments=((5, "clinic"),),
        situation="ESR1 D538G and Y537S in ctDNA without progression: consider a switch",
    ),
    Demo(
        5, "Susan", "Okafor", date(1965, 11, 8), ("bone",),
        (Tx(-120, "exemestane", "abemaciclib"),),
        samples=(_negative(-70),),
        appointments=((22, "clinic"), (64, "imaging")),
        situation="next draw moves to the clinic visit in three weeks",
    ),
    Demo(
        6, "Linda", "Moreau", date(1954, 2, 17), ("bone", "liver"),
        (Tx(-400, "letrozole", "palbociclib"),),
        samples=(_negative(-372), _negative(-316), _negative(-260), _negative(-204),
                 _negative(-148), _negative(-90), _negative(-34)),
        assessments=((-300, "ct", "PR"), (-190, "ct", "SD"), (-100, "ct", "SD"),
                     (-12, "ct", "PD")),
        situation="progression on CT twelve days ago; ESR1 never detected",
    ),
    Demo(
        7, "Grace", "Lindqvist", date(1960, 8, 21), ("bone", "lung"),
        (Tx(-330, "anastrozole", "ribociclib"),),
        samples=(
            _negative(-302),
            _negative(-246),
            _negative(-190),
            Sample(-40, "guardant360_cdx", reported=-30,
                   variants=(("ESR1", "Y537S", "2.3"), ("ESR1", "E380Q", "0.5"))),
        ),
        assessments=((-200, "ct", "SD"), (-15, "pet_ct", "PD")),
        situation="ESR1 detected, then progression documented: outside the SERENA-6 window",
    ),
    Demo(
        8, "Ruth", "Adeyemi", date(1963, 3, 5), ("bone", "lymph_node"),
        (
            Tx(-420, "letrozole", "palbociclib", end=-95, end_reason="esr1_switch"),
            Tx(-95, "camizestrant", "palbociclib"),
        ),
        samples=(
            _negative(-392), _negative(-336), _negative(-280), _negative(-224), _negative(-168),
            Sample(-112, "ddpcr_esr1", reported=-104, variants=(("ESR1", "D538G", "0.9"),)),
        ),
        assessments=((-110, "ct", "SD"), (-20, "ct", "SD")),
        situation="switched to camizestrant after ESR1 D538G: on a SERD, surveillance ended",
    ),
    Demo(
        9, "Dorothy", "Nakamura", date(1952, 12, 14), ("bone", "liver", "lymph_node"),
        (
            Tx(-760, "anastrozole", "palbociclib", end=-210, end_reason="progression"),
            # MAINTAIN-style: switch the endocrine partner, continue a CDK4/6 inhibitor.
            Tx(-210, "exemestane", "ribociclib", line=2),
        ),
        samples=(_negative(-400),),
        assessments=((-212, "ct", "PD"), (-100, "ct", "SD")),
        high_tumour_burden=True,
        situation="second line (exemestane + ribociclib) after progression on first line",
    ),
    Demo(
        10, "Barbara", "Kowalski", date(1967, 7, 9), ("bone",),
        (Tx(-150, "letrozole", "ribociclib"),),
        samples=(
            _negative(-122),
            Sample(-33, "foundationone_liquid_cdx", reported=-22, status="failed",
                   comment="Insufficient cfDNA; please redraw."),
        ),
        situation="last sample failed (insufficient cfDNA): redraw needed",
    ),
    Demo(
        11, "Elaine", "Fitzgerald", date(1959, 10, 2), ("bone", "soft_tissue"),
        (Tx(-200, "letrozole", "palbociclib"),),
        samples=(_negative(-175), _negative(-91), Sample(-24, "guardant360_cdx")),
        situation="sample collected 24 days ago, no result yet",
    ),
    Demo(
        12, "Frances", "Delgado", date(1964, 5, 23), ("bone", "lymph_node"),
        (Tx(-160, "anastrozole", "palbociclib"),),
        samples=(
            _negative(-132),
            Sample(-48, "guardant360_cdx", reported=-38,
                   variants=(("ESR1", "L536F", "0.3"), ("TP53", "R273H", "1.9"))),
        ),
        situation="an ESR1 variant of unknown significance (L536F) for review",
    ),
)
# fmt: on


class Command(BaseCommand):
    help = "Load the demo cohort and one user per role (idempotent; demo/local use only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="load demo users even though DEBUG is false (never on a real deployment)",
        )
        parser.add_argument(
            "--programme-history",
            type=int,
            default=0,
            metavar="N",
            help="also load N synthetic patients (MRNs SYN...) with a year of programme history "
            "(draws on time and late, failed samples, detections before and after progression, "
            "decisions and switches), so every figure of the metrics page counts; skipped when "
            "a synthetic cohort is already loaded",
        )

    def handle(self, *args, allow_without_debug=False, programme_history=0, **options):
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "seed_demo creates users with a published password and only runs with DEBUG=true "
                "(make run sets it). Pass --allow-without-debug if you really mean it."
            )
        with transaction.atomic():
            for username, role, first, last in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user_create(
                        username=username, role=role, password=DEMO_PASSWORD,
                        first_name=first, last_name=last, email=f"{username}@example.org",
                    )  # fmt: skip
                elif user.role != role:
                    user_set_role(user=user, role=role)

        created = self._seed_cohort()
        self.stdout.write(
            f"Demo cohort: {created} patient(s) created, {len(COHORT) - created} already present."
        )
        stats = engine.run_all()
        self.stdout.write(f"Surveillance run over {stats.evaluated} patients: {stats.summary()}")
        if programme_history > 0:
            self._programme_history(programme_history)

        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.label:<14} {username}")

    def _programme_history(self, patients: int) -> None:
        if Patient.objects.filter(mrn__startswith=SYNTHETIC_PREFIX).exists():
            self.stdout.write("Programme history: a synthetic cohort is already loaded.")
            return
        today = clinic_today()
        seed_cohort(patients=patients, seed=1, today=today, progress=False)
        engine.run_all(today=today)
        add_programme_history(today=today)
        self.stdout.write(
            f"Programme history: {patients} synthetic patients ({SYNTHETIC_PREFIX}...) with a "
            "year of draws, results, alerts and decisions, for the metrics page."
        )

    def _seed_cohort(self) -> int:
        oncologist = User.objects.get(username=DEMO_ONCOLOGIST)
        nurse = User.objects.get(username=DEMO_NURSE)
        today = clinic_today()
        existing = set(
            Patient.objects.filter(mrn__startswith=MRN_PREFIX).values_list("mrn", flat=True)
        )
        created = 0
        for demo in COHORT:
            if demo.mrn in existing:
                continue
            with transaction.atomic():
                _create_patient(demo, oncologist=oncologist, nurse=nurse, today=today)
            created += 1
            self.stdout.write(
                f"  {demo.mrn} {demo.given_name} {demo.family_name}: {demo.situation}"
            )
        return created


def _create_patient(demo: Demo, *, oncologist: User, nurse: User, today: date) -> Patient:
    def on(offset: int) -> date:
        return today + timedelta(days=offset)

    first_metastatic = min(t.start for t in demo.treatments if t.setting == "metastatic")
    # patients.services is another module's; demo rows go in directly, audited as the oncologist.
    with pghistory.context(user=oncologist.pk):
        patient = Patient.objects.create(
            mrn=demo.mrn,
            given_name=demo.given_name,
            family_name=demo.family_name,
            birth_date=demo.birth_date,
            sex=demo.sex,
            er_status="positive",
            pr_status="positive",
            her2_status="negative",
            metastatic_diagnosis_date=on(first_metastatic - 14),
            metastatic_sites=list(demo.sites),
            prior_adjuvant_ai=demo.prior_adjuvant_ai,
            high_tumour_burden=demo.high_tumour_burden,
            oncologist=oncologist,
            enrolled_on=on(first_metastatic),
        )
        for tx in demo.treatments:
            Treatment.objects.create(
                patient=patient,
                line_number=tx.line,
                setting=tx.setting,
                endocrine_therapy_id=tx.endocrine,
                cdk46_inhibitor_id=tx.cdk46,
                start_date=on(tx.start),
                end_date=on(tx.end) if tx.end is not None else None,
                end_reason=tx.end_reason,
            )
        Assessment.objects.bulk_create(
            Assessment(patient=patient, date=on(offset), modality=modality, response=response)
            for offset, modality, response in demo.assessments
        )
        Appointment.objects.bulk_create(
            Appointment(patient=patient, date=on(offset), kind=kind)
            for offset, kind in demo.appointments
        )
        patient_changed(patient.pk)

    # Samples go through the same services as the nurse's screens, so they are validated
    # and normalised exactly like real ones.
    for index, sample in enumerate(demo.samples, start=1):
        draw = draw_record(
            actor=nurse,
            patient=patient,
            collected_on=on(sample.collected),
            assay=sample.assay,
            accession=f"{demo.mrn}-{index:02d}",
        )
        if sample.reported is not None:
            result_record(
                actor=nurse,
                draw=draw,
                reported_on=on(sample.reported),
                status=sample.status,
                variants=[
                    {"gene": gene, "protein_change": change, "vaf_percent": vaf}
                    for gene, change, vaf in sample.variants
                ],
                comment=sample.comment,
            )
    return patient

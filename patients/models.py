import pgtrigger
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    ArrayField,
    BigIntegerRangeField,
    DateRangeField,
    RangeOperators,
)
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Func, Q
from django.db.models.functions import Now
from django.utils import timezone

from patients.audit import audited


def clinic_today():
    """Today as a date in the clinic's time zone (TIME_ZONE)."""
    return timezone.localdate()


class DrugClass(models.TextChoices):
    AROMATASE_INHIBITOR = "ai", "Aromatase inhibitor"
    SERD = "serd", "SERD"
    SERM = "serm", "SERM"
    CDK46_INHIBITOR = "cdk46", "CDK4/6 inhibitor"


class Drug(models.Model):
    """The drug catalogue. Rows come from a data migration; admins keep `status_note`
    current (e.g. regulatory status of camizestrant)."""

    code = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=64)
    drug_class = models.CharField(max_length=8, choices=DrugClass.choices)
    status_note = models.CharField(max_length=240, blank=True)

    class Meta:
        ordering = ["drug_class", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(drug_class__in=DrugClass.values), name="drug_class_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_endocrine(self) -> bool:
        return self.drug_class != DrugClass.CDK46_INHIBITOR


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"


class ReceptorStatus(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"
    UNKNOWN = "unknown", "Unknown"


class MetastaticSite(models.TextChoices):
    BONE = "bone", "Bone"
    LYMPH_NODE = "lymph_node", "Lymph node"
    LIVER = "liver", "Liver"
    LUNG = "lung", "Lung"
    PLEURA = "pleura", "Pleura"
    PERITONEUM = "peritoneum", "Peritoneum"
    BRAIN = "brain", "Brain"
    SOFT_TISSUE = "soft_tissue", "Soft tissue"
    SKIN = "skin", "Skin"
    OTHER = "other", "Other"


class PatientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    DECEASED = "deceased", "Deceased"


@audited()
class Patient(models.Model):
    mrn = models.CharField("MRN", max_length=32, unique=True)
    given_name = models.CharField(max_length=80)
    family_name = models.CharField(max_length=80)
    birth_date = models.DateField()
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.FEMALE)
    er_status = models.CharField("ER", max_length=8, choices=ReceptorStatus.choices)
    pr_status = models.CharField("PR", max_length=8, choices=ReceptorStatus.choices)
    # HER2-low is recorded as negative.
    her2_status = models.CharField("HER2", max_length=8, choices=ReceptorStatus.choices)
    metastatic_diagnosis_date = models.DateField(null=True, blank=True)
    metastatic_sites = ArrayField(
        models.CharField(max_length=16, choices=MetastaticSite.choices), default=list, blank=True
    )
    prior_adjuvant_ai = models.BooleanField(default=False)
    high_tumour_burden = models.BooleanField(default=False)
    oncologist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="patients",
        limit_choices_to={"role": "oncologist"},
    )
    status = models.CharField(
        max_length=10, choices=PatientStatus.choices, default=PatientStatus.ACTIVE
    )
    enrolled_on = models.DateField(default=clinic_today)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        indexes = [
            # The patient list's order (Meta.ordering, chart.selectors.patient_list). With
            # the id in the key a page's ids are read off the index, however deep the OFFSET;
            # with the MRN included a search (MRN or name) is checked on index entries alone.
            models.Index(
                fields=["family_name", "given_name", "id"],
                include=["mrn"],
                name="patient_list_order_idx",
            ),
            models.Index(fields=["oncologist", "status"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="patient_sex_valid"),
            models.CheckConstraint(
                condition=Q(er_status__in=ReceptorStatus.values)
                & Q(pr_status__in=ReceptorStatus.values)
                & Q(her2_status__in=ReceptorStatus.values),
                name="patient_receptors_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PatientStatus.values), name="patient_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(metastatic_sites__contained_by=MetastaticSite.values),
                name="patient_sites_valid",
            ),
            models.CheckConstraint(
                condition=Q(metastatic_diagnosis_date__isnull=True)
                | Q(metastatic_diagnosis_date__gte=models.F("birth_date")),
                name="patient_diagnosis_after_birth",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Setting(models.TextChoices):
    METASTATIC = "metastatic", "Metastatic"
    ADJUVANT = "adjuvant", "Adjuvant"


class EndReason(models.TextChoices):
    PROGRESSION = "progression", "Progression"
    ESR1_SWITCH = "esr1_switch", "ESR1-triggered switch"
    TOXICITY = "toxicity", "Toxicity"
    COMPLETED = "completed", "Completed"
    PATIENT_CHOICE = "patient_choice", "Patient choice"
    DEATH = "death", "Death"
    OTHER = "other", "Other"


# Lines of therapy are numbered from 1 (the first metastatic line). No patient comes near 99:
# the bound is there so a mistyped number is a field error (form, API and service alike)
# instead of a value the smallint column cannot hold.
MAX_LINE_NUMBER = 99


class DateRange(Func):
    function = "DATERANGE"
    output_field = DateRangeField()


class Int8Range(Func):
    function = "INT8RANGE"
    output_field = BigIntegerRangeField()


@audited()
class Treatment(models.Model):
    """One regimen period on the patient's timeline."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatments")
    line_number = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LINE_NUMBER)]
    )
    setting = models.CharField(max_length=12, choices=Setting.choices, default=Setting.METASTATIC)
    endocrine_therapy = models.ForeignKey(
        Drug, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        limit_choices_to=~Q(drug_class=DrugClass.CDK46_INHIBITOR),
    )  # fmt: skip
    cdk46_inhibitor = models.ForeignKey(
        Drug, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        limit_choices_to={"drug_class": DrugClass.CDK46_INHIBITOR},
    )  # fmt: skip
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["patient_id", "start_date", "id"]
        indexes = [models.Index(fields=["patient", "start_date"])]
        constraints = [
            models.CheckConstraint(condition=Q(line_number__gte=1), name="treatment_line_positive"),
            models.CheckConstraint(
                condition=Q(setting__in=Setting.values), name="treatment_setting_valid"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gt=models.F("start_date")),
                name="treatment_ends_after_start",
            ),
            models.CheckConstraint(
                condition=(Q(end_date__isnull=True) & Q(end_reason=""))
                | (Q(end_date__isnull=False) & Q(end_reason__in=EndReason.values)),
                name="treatment_end_reason_with_end_date",
            ),
            models.CheckConstraint(
                condition=Q(endocrine_therapy__isnull=False) | Q(cdk46_inhibitor__isnull=False),
                name="treatment_has_a_drug",
            ),
            # Metastatic periods of one patient never overlap; one may start the day
            # the previous one ends (half-open ranges). The patient is compared as the range
            # [id, id] so plain GiST range support suffices (no btree_gist extension, which
            # the embedded Postgres does not ship).
            ExclusionConstraint(
                name="treatment_metastatic_no_overlap",
                expressions=[
                    (Int8Range("patient", "patient", models.Value("[]")), RangeOperators.OVERLAPS),
                    (
                        DateRange("start_date", "end_date", models.Value("[)")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
                condition=Q(setting="metastatic"),
            ),
        ]

    def __str__(self) -> str:
        drugs = " + ".join(d.name for d in (self.endocrine_therapy, self.cdk46_inhibitor) if d)
        return f"Line {self.line_number}: {drugs} from {self.start_date}"


class Modality(models.TextChoices):
    CT = "ct", "CT"
    PET_CT = "pet_ct", "PET-CT"
    BONE_SCAN = "bone_scan", "Bone scan"
    MRI = "mri", "MRI"
    OTHER = "other", "Other"


class Response(models.TextChoices):
    CR = "CR", "Complete response"
    PR = "PR", "Partial response"
    SD = "SD", "Stable disease"
    PD = "PD", "Progressive disease"
    NE = "NE", "Not evaluable"


@audited()
class Assessment(models.Model):
    """A completed imaging assessment. PD is radiographic progression."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    date = models.DateField()
    modality = models.CharField(max_length=10, choices=Modality.choices)
    response = models.CharField(max_length=2, choices=Response.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient_id", "date", "id"]
        indexes = [models.Index(fields=["patient", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(modality__in=Modality.values), name="assessment_modality_valid"
            ),
            models.CheckConstraint(
                condition=Q(response__in=Response.values), name="assessment_response_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_modality_display()} {self.date}: {self.response}"


class AppointmentKind(models.TextChoices):
    CLINIC = "clinic", "Clinic visit"
    IMAGING = "imaging", "Imaging"


@audited()
class Appointment(models.Model):
    """An upcoming visit a blood draw can be aligned with."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    date = models.DateField()
    kind = models.CharField(max_length=8, choices=AppointmentKind.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient_id", "date", "id"]
        indexes = [models.Index(fields=["patient", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AppointmentKind.values), name="appointment_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class PatientAccess(models.Model):
    """Who looked at which patient record, and when. Append-only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # What was read: `page:patient_list`, `api:draw_list`, `digest`... (the API's `action`).
    view = models.CharField(max_length=40)
    # Where, without the query string: a search for a name or MRN is not kept.
    path = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-at"]
        verbose_name = "patient record access"
        verbose_name_plural = "patient record accesses"
        indexes = [models.Index(fields=["patient", "-at"]), models.Index(fields=["user", "-at"])]
        # The log is evidence: the database refuses to change or remove a row, whoever asks.
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.user} viewed {self.patient_id} ({self.view}) at {self.at:%Y-%m-%d %H:%M}"


class AuditTrailRead(models.Model):
    """An administrator read or exported the change history or the access log: reading the
    audit trail is itself on the record. Append-only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # `change-history`, `change-history:export`, `access-log`, `access-log:export`, ...
    view = models.CharField(max_length=40)
    path = models.CharField(max_length=200, blank=True, default="")
    # The filters used (user, patient, dates): what was looked for, never clinical values.
    query = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-at"]
        verbose_name = "audit trail read"
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.view} at {self.at:%Y-%m-%d %H:%M}"


class PendingEvaluation(models.Model):
    """The outbox (patients/outbox.py): a committed change to this patient's record that the
    surveillance engine has not evaluated yet. Written in the change's own transaction; the
    engine deletes it after evaluating, and only if it is still the mark it read. A patient
    whose evaluation fails keeps its mark, put off after each failed attempt
    (surveillance/marks.py)."""

    patient = models.OneToOneField(
        Patient, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    marked_at = models.DateTimeField()
    # Failed evaluations since the last change, and when the sweep may try again.
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        # The sweep takes the due marks, those that failed least first.
        indexes = [
            models.Index(fields=["attempts", "next_attempt_at"], name="pending_evaluation_due_idx")
        ]

    def __str__(self) -> str:
        return f"Patient {self.patient_id} changed at {self.marked_at}"

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Case, F, IntegerField, Q, Value, When

from patients.audit import audited
from patients.models import Patient


class DrawStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    COLLECTED = "collected", "Collected"
    RESULTED = "resulted", "Resulted"
    CANCELLED = "cancelled", "Cancelled"


class Assay(models.TextChoices):
    GUARDANT360_CDX = "guardant360_cdx", "Guardant360 CDx"
    FOUNDATIONONE_LIQUID_CDX = "foundationone_liquid_cdx", "FoundationOne Liquid CDx"
    DDPCR_ESR1 = "ddpcr_esr1", "ESR1 ddPCR"
    OTHER = "other", "Other"


@audited()
class AssayProfile(models.Model):
    """What the clinic holds about each ctDNA assay: one row per `Assay` code (made by a data
    migration), its name, and the limit of reliable detection its laboratory states. Admins
    keep the limit current; pages warn when an ESR1 finding lies below it."""

    code = models.CharField(max_length=32, primary_key=True, choices=Assay.choices)
    name = models.CharField(max_length=64)
    limit_of_detection_pct = models.DecimalField(
        "limit of detection (VAF %)",
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=(
            "The lowest variant allele fraction, in percent, that this assay detects reliably."
            " Enter the figure from the laboratory's own validation of the assay: the starting"
            " values are typical published figures, to be confirmed by the laboratory. Leave"
            " empty when unknown (no below-limit warning is then shown)."
        ),
    )
    limit_confirmed = models.BooleanField(
        "confirmed by the laboratory",
        default=False,
        help_text=(
            "Tick once the limit above is the laboratory's validated figure. Until then the"
            " pages call it a starting value, not yet confirmed by the laboratory."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__in=Assay.values), name="assayprofile_code_valid"
            ),
            models.CheckConstraint(
                condition=Q(limit_of_detection_pct__isnull=True)
                | (Q(limit_of_detection_pct__gt=0) & Q(limit_of_detection_pct__lte=100)),
                name="assayprofile_limit_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited()
class Draw(models.Model):
    """A blood sample: planned by the engine (or a repeat-test decision), then collected,
    then resulted. A collected draw fulfils the planned one in place, keeping `due_date`
    so on-time rates can be measured."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="draws")
    status = models.CharField(max_length=10, choices=DrawStatus.choices)
    due_date = models.DateField(null=True, blank=True)
    collected_on = models.DateField(null=True, blank=True)
    assay = models.CharField(max_length=32, choices=Assay.choices, blank=True)
    accession = models.CharField(max_length=64, blank=True)
    # Planned by an oncologist's repeat-test decision: the due date stands until collected.
    pinned = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["patient_id", "id"]
        indexes = [
            models.Index(fields=["patient", "collected_on"]),
            models.Index(fields=["status", "due_date"]),
            # The nurses' "results not back yet" in its order: a page of thousands of
            # collected draws read off the index instead of sorted on every view.
            models.Index(
                fields=["collected_on", "id"],
                condition=Q(status="collected"),
                name="draw_awaiting_result_idx",
            ),
            # The nurses' overdue, due-today and due-this-week sections in their order
            # (due date, then id): a page is the first 25 entries of a range, not a sort of
            # the thousands of planned draws in it.
            models.Index(
                fields=["due_date", "id"],
                condition=Q(status="planned"),
                name="draw_planned_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DrawStatus.values), name="draw_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(assay="") | Q(assay__in=Assay.values), name="draw_assay_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=DrawStatus.PLANNED)
                | Q(due_date__isnull=False, collected_on__isnull=True),
                name="draw_planned_has_due_date",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[DrawStatus.COLLECTED, DrawStatus.RESULTED])
                | (Q(collected_on__isnull=False) & ~Q(assay="")),
                name="draw_collected_has_date_and_assay",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status=DrawStatus.PLANNED),
                name="draw_one_planned_per_patient",
            ),
            models.UniqueConstraint(
                fields=["assay", "accession"],
                condition=~Q(accession=""),
                name="draw_accession_unique_per_assay",
            ),
            # One sample is one draw: a double-submitted form or API call must not make a
            # second collected draw (it would later raise a false "result overdue").
            models.UniqueConstraint(
                fields=["patient", "collected_on", "assay"],
                condition=Q(status__in=[DrawStatus.COLLECTED, DrawStatus.RESULTED]),
                name="draw_once_per_patient_day_assay",
            ),
        ]

    def __str__(self) -> str:
        when = self.collected_on or self.due_date
        return f"Draw {self.id} ({self.status}, {when})"


class ResultStatus(models.TextChoices):
    FINAL = "final", "Final"
    FAILED = "failed", "Failed"


class Esr1Status(models.TextChoices):
    DETECTED = "detected", "ESR1 mutation detected"
    NOT_DETECTED = "not_detected", "ESR1 not detected"
    FAILED = "failed", "Failed"


class ResultSource(models.TextChoices):
    MANUAL = "manual", "Typed"
    FHIR = "fhir", "FHIR report"
    HL7V2 = "hl7v2", "HL7 v2 message"
    CSV = "csv", "CSV batch"


@audited()
class Result(models.Model):
    """The laboratory report for one draw.

    A draw has one current result: `draw` (one-to-one). A corrected report from the laboratory
    supersedes it: the earlier result keeps its variants and moves to the draw's history
    (`draw` cleared, `superseded_draw`, `superseded_by`, `superseded_at` set), so everything
    that reads `draw.result` (the rules, the chart, the metrics) sees the current one only."""

    draw = models.OneToOneField(
        Draw, on_delete=models.PROTECT, related_name="result", null=True, blank=True
    )
    reported_on = models.DateField()
    status = models.CharField(max_length=8, choices=ResultStatus.choices)
    esr1_status = models.CharField(max_length=14, choices=Esr1Status.choices)
    comment = models.TextField(blank=True)
    # db_default: the synthetic cohort loads results with COPY, naming its columns.
    source = models.CharField(
        max_length=8,
        choices=ResultSource.choices,
        default=ResultSource.MANUAL,
        db_default=ResultSource.MANUAL,
    )
    # The laboratory's report identifier, when imported.
    report_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    superseded_draw = models.ForeignKey(
        Draw,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_results",
    )
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["draw_id"]
        indexes = [models.Index(fields=["report_id"], name="result_report_id_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=ResultSource.values), name="result_source_valid"
            ),
            # Current (on its draw) or superseded (in its draw's history), never both.
            models.CheckConstraint(
                condition=(
                    Q(draw__isnull=False)
                    & Q(superseded_draw__isnull=True)
                    & Q(superseded_by__isnull=True)
                    & Q(superseded_at__isnull=True)
                )
                # superseded_by is set by the statement after the one that moves the result
                # off its draw, in the same transaction (the draw's result is unique).
                | (
                    Q(draw__isnull=True)
                    & Q(superseded_draw__isnull=False)
                    & Q(superseded_at__isnull=False)
                ),
                name="result_current_or_superseded",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ResultStatus.values), name="result_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(status=ResultStatus.FAILED) & Q(esr1_status=Esr1Status.FAILED))
                | (
                    Q(status=ResultStatus.FINAL)
                    & Q(esr1_status__in=[Esr1Status.DETECTED, Esr1Status.NOT_DETECTED])
                ),
                name="result_esr1_status_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"Result {self.id} ({self.esr1_status}, {self.reported_on})"

    @property
    def is_superseded(self) -> bool:
        return self.superseded_at is not None

    @property
    def draw_id_of_record(self) -> int | None:
        """The draw this result reports, current or superseded."""
        return self.draw_id or self.superseded_draw_id


@audited()
class Variant(models.Model):
    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="variants")
    gene = models.CharField(max_length=16)
    protein_change = models.CharField(
        max_length=200,
        blank=True,
        help_text="canonical HGVS, e.g. p.Asp538Gly; as the lab wrote it when not a plain change",
    )
    short = models.CharField(max_length=64, help_text="short form, e.g. D538G")
    vaf_percent = models.DecimalField(
        max_digits=7, decimal_places=4, null=True, blank=True, help_text="null: not reported"
    )
    esr1_activating = models.BooleanField(default=False)
    esr1_vus = models.BooleanField(default=False)
    # db_default: the synthetic cohort loads variants with COPY, which does not name it.
    reported_text = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="what the laboratory reported when not a plain variant",
    )

    class Meta:
        ordering = ["result_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vaf_percent__isnull=True)
                | (Q(vaf_percent__gt=0) & Q(vaf_percent__lte=100)),
                name="variant_vaf_range",
            ),
            models.UniqueConstraint(
                fields=["result", "gene", "protein_change"],
                condition=~Q(protein_change=""),
                name="variant_once_per_result",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gene} {self.short} {self.vaf_display}"

    @property
    def vaf_display(self) -> str:
        from surveillance.rules import format_vaf_percent

        return format_vaf_percent(self.vaf_percent)


class AlertKind(models.TextChoices):
    ESR1_SWITCH = "esr1_switch", "ESR1 switch"
    ESR1_AT_PROGRESSION = "esr1_at_progression", "ESR1 at progression"
    ESR1_VUS_REVIEW = "esr1_vus_review", "ESR1 variant review"
    DRAW_DUE = "draw_due", "Draw due"
    DRAW_OVERDUE = "draw_overdue", "Draw overdue"
    REDRAW_NEEDED = "redraw_needed", "Redraw needed"
    RESULT_OVERDUE = "result_overdue", "Result overdue"


ESR1_KINDS = frozenset(
    {AlertKind.ESR1_SWITCH, AlertKind.ESR1_AT_PROGRESSION, AlertKind.ESR1_VUS_REVIEW}
)
LOGISTICS_KINDS = frozenset(
    {AlertKind.DRAW_DUE, AlertKind.DRAW_OVERDUE, AlertKind.REDRAW_NEEDED, AlertKind.RESULT_OVERDUE}
)


class Severity(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


# Most severe first. Worklists sort by it, and an index is built on it: keep the two the same
# expression or Postgres no longer matches the index to the ORDER BY.
SEVERITY_RANK = Case(
    When(severity=Severity.HIGH, then=Value(0)),
    When(severity=Severity.MEDIUM, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Decision(models.TextChoices):
    SWITCHED = "switched", "Switched to a SERD"
    REPEAT_TEST = "repeat_test", "Repeat the test"
    DEFERRED = "deferred", "Deferred"
    DISMISSED = "dismissed", "Dismissed"
    AUTO = "auto", "Cleared automatically"
    DONE = "done", "Done"


@audited()
class Alert(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    severity = models.CharField(max_length=6, choices=Severity.choices)
    status = models.CharField(max_length=8, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    # What the alert is about within its kind: "" for one-per-patient kinds,
    # "result:<id>" / "draw:<id>" otherwise. Open alerts are unique per (patient, kind, subject).
    subject = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=200)
    rationale = models.TextField()
    evidence = models.JSONField(default=dict)
    # 1 when opened, +1 whenever `evidence` changes. A decision carries the version the
    # clinician saw and is refused when the evidence has moved on (services/decisions.py).
    # db_default: the engine inserts alerts in set-based SQL that does not name the column.
    evidence_version = models.PositiveIntegerField(default=1, db_default=1)
    result_ids = models.JSONField(default=list, help_text="results this alert covers")
    policy_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision = models.CharField(max_length=12, choices=Decision.choices, blank=True)
    decision_details = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "kind"]),
            models.Index(fields=["status", "severity", "created_at"]),
            # The nurses' worklist (surveillance.selectors.worklist_for) in its order, so a
            # page of it is read off the index instead of sorting every open alert.
            models.Index(
                SEVERITY_RANK,
                F("created_at"),
                F("id"),
                condition=Q(status=AlertStatus.OPEN, kind__in=sorted(LOGISTICS_KINDS)),
                name="alert_open_logistics_order_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "subject"],
                condition=Q(status=AlertStatus.OPEN),
                name="alert_one_open_per_subject",
            ),
            models.CheckConstraint(condition=Q(kind__in=AlertKind.values), name="alert_kind_valid"),
            models.CheckConstraint(
                condition=Q(evidence_version__gte=1), name="alert_evidence_version_positive"
            ),
            models.CheckConstraint(
                condition=Q(severity__in=Severity.values), name="alert_severity_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=AlertStatus.OPEN) & Q(decision="") & Q(resolved_at__isnull=True)
                )
                | (Q(status=AlertStatus.RESOLVED) & ~Q(decision="") & Q(resolved_at__isnull=False)),
                name="alert_resolution_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"

    @property
    def is_esr1(self) -> bool:
        return self.kind in ESR1_KINDS


@audited()
class SurveillancePolicy(models.Model):
    """The numbers of SPEC section 5. Never edited in place: each save is a new version,
    and the highest version is the one in force."""

    version = models.PositiveIntegerField(unique=True)
    first_draw_after_days = models.PositiveSmallIntegerField(default=56)
    redraw_after_failed_days = models.PositiveSmallIntegerField(default=14)
    interval_high_risk_days = models.PositiveSmallIntegerField(default=56)
    interval_standard_risk_days = models.PositiveSmallIntegerField(default=84)
    alignment_window_days = models.PositiveSmallIntegerField(default=14)
    high_risk_days_on_treatment = models.PositiveSmallIntegerField(default=182)
    high_risk_min_sites = models.PositiveSmallIntegerField(default=3)
    draw_due_lookahead_days = models.PositiveSmallIntegerField(default=7)
    draw_overdue_after_days = models.PositiveSmallIntegerField(default=14)
    result_overdue_after_days = models.PositiveSmallIntegerField(default=14)
    switch_scan_days = models.PositiveSmallIntegerField(
        default=42,
        validators=[MinValueValidator(1)],
        help_text=(
            "A switch to a SERD needs an imaging assessment without progression dated within "
            "this many days before the switch date; without one, the decision needs a note."
        ),
    )
    note = models.CharField(max_length=200, blank=True, help_text="why this version was made")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        verbose_name = "surveillance policy"
        verbose_name_plural = "surveillance policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_high_risk_days__gt=0)
                & Q(interval_standard_risk_days__gt=0)
                & Q(first_draw_after_days__gt=0)
                & Q(redraw_after_failed_days__gt=0),
                name="policy_intervals_positive",
            ),
            models.CheckConstraint(
                condition=Q(switch_scan_days__gt=0), name="policy_switch_scan_days_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Policy v{self.version}"


class SurveillanceState(models.Model):
    """The engine's latest verdict for a patient (derived; rewritten when a run's verdict
    differs, so evaluated_for/evaluated_at tell when it last changed). Which patients
    await evaluation is patients.PendingEvaluation (the outbox, patients/outbox.py)."""

    patient = models.OneToOneField(
        Patient, on_delete=models.CASCADE, primary_key=True, related_name="surveillance_state"
    )
    eligible = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)
    risk_level = models.CharField(max_length=10, blank=True)
    risk_factors = models.JSONField(default=list)
    next_draw_due = models.DateField(null=True, blank=True)
    surveillance_treatment_id = models.BigIntegerField(null=True, blank=True)
    evaluated_for = models.DateField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    # The first day the same inputs give another verdict (rules.Evaluation.next_change): the
    # incremental nightly run evaluates the patient again from that day on. Null: never by
    # the passing of time alone (a change to the record still marks the patient).
    next_change = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["eligible", "next_draw_due"]),
            models.Index(fields=["next_change"], name="state_next_change"),
            # Verdicts never made (normally none): the incremental run evaluates them.
            models.Index(
                fields=["patient"], condition=Q(evaluated_at=None), name="state_not_evaluated"
            ),
        ]

    def __str__(self) -> str:
        return f"Surveillance state of patient {self.patient_id}"


class RunKind(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class SurveillanceRun(models.Model):
    """One completed nightly (or command-line) run of the engine over the cohort: whether it
    evaluated everybody or only the patients whose verdict could have changed, and why. The
    next run reads the latest ones to decide whether it must be a full run
    (surveillance/engine.py, `plan_run`)."""

    today = models.DateField()
    kind = models.CharField(max_length=12, choices=RunKind.choices)
    reason = models.CharField(max_length=200, blank=True)
    policy_version = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    evaluated = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["kind", "-finished_at"], name="run_kind_finished")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} surveillance run for {self.today}"


class DigestState(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, to be retried"


class DigestSent(models.Model):
    """One row per user and day: the claim that makes the daily digest go out once even if
    two beat ticks or workers race for it (surveillance/digests.py).

    `sending` is held by the run whose `claim_token` it carries, from `claimed_at` (the
    database's clock, shared by every worker); `sent` only after the server took the message;
    `failed` when the send did not go through, free for the retry to claim again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    state = models.CharField(max_length=7, choices=DigestState.choices)
    claim_token = models.UUIDField(null=True)
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    # The last failed attempt's error, for whoever looks into a digest that never came.
    last_error = models.CharField(max_length=200, blank=True)
    # Counts only: the subject line of the digest that went out.
    summary = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="digest_once_per_day"),
            models.CheckConstraint(
                condition=~Q(state=DigestState.SENT) | Q(sent_at__isnull=False),
                name="digest_sent_has_sent_at",
            ),
        ]

    def __str__(self) -> str:
        return f"Digest for {self.user} on {self.day} ({self.state})"


class ProgrammeFact(models.Model):
    """One event the programme figures count, for one patient (derived, never audited):
    rewritten by surveillance.programme_facts each time the engine evaluates the patient,
    so the figures follow every change to the record. `figure` says which event (a
    monitored span, a draw due, a result, an ESR1 alert, a decision, ...), `on_date` the day
    that places it in a month, `value` its measure (turnaround days, minutes, ...)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="programme_facts")
    oncologist_id = models.BigIntegerField(null=True)
    figure = models.CharField(max_length=24)
    on_date = models.DateField()
    last_day = models.DateField(null=True)
    value = models.FloatField(null=True)

    class Meta:
        # Covering: the programme's reads (a figure's facts over a range of days) are answered
        # from the index alone.
        indexes = [
            models.Index(
                fields=["figure", "on_date"],
                include=["patient", "oncologist_id", "last_day", "value"],
                name="programme_fact_figure_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.on_date} (patient {self.patient_id})"


class ProgrammeMonth(models.Model):
    """ProgrammeFact summed by calendar month, oncologist, figure and value (`n` events):
    the programme figures of whole months read from here, a few thousand rows whatever the
    number of patients. Kept by the same refresh, which adds the difference a patient's new
    facts make (rows may reach n = 0 and are then ignored)."""

    month = models.DateField()
    oncologist_id = models.BigIntegerField(null=True)
    figure = models.CharField(max_length=24)
    value = models.FloatField(null=True)
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "figure", "oncologist_id", "value"],
                nulls_distinct=False,
                name="programme_month_cell",
            )
        ]
        # Covering: the programme's reads (a figure's sums over a range of months) are
        # answered from the index alone.
        indexes = [
            models.Index(
                fields=["figure", "month"],
                include=["oncologist_id", "value", "n"],
                name="programme_month_figure_cover",
            )
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.month:%Y-%m} = {self.n}"


class DayRanges(models.Field):
    """A Postgres datemultirange: a set of ranges of days, read back as psycopg's Multirange.
    Written by SQL only (surveillance/programme_facts.py)."""

    description = "Ranges of days"

    def db_type(self, connection) -> str:
        return "datemultirange"


class ProgrammeFunnel(models.Model):
    """A monitored patient's days for the programme's funnel (SPEC section 8): the days
    monitored and the days with a draw collected, an ESR1 detection and a switch decided.
    A patient is in a period's funnel when `monitored` overlaps it, tested when `tested`
    overlaps it too, and so on: one row per patient tested with four range overlaps, instead
    of four sets of distinct patients joined. Made from the patient's ProgrammeFact rows by
    the same refresh, in the same statement; a patient never monitored has no row."""

    patient = models.OneToOneField(
        Patient, on_delete=models.CASCADE, primary_key=True, related_name="programme_funnel"
    )
    monitored = DayRanges()
    tested = DayRanges()
    detected = DayRanges()
    switched = DayRanges()

    def __str__(self) -> str:
        return f"funnel days of patient {self.patient_id}"


class ProgrammeMonthTotal(models.Model):
    """ProgrammeMonth summed over every oncologist: `n` events by calendar month, figure and
    value. The overall and monthly figures read these (a few hundred rows a month) rather
    than a row per oncologist. Kept by the same refresh, in the same statement."""

    month = models.DateField()
    figure = models.CharField(max_length=24)
    value = models.FloatField(null=True)
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "figure", "value"],
                nulls_distinct=False,
                name="programme_month_total_cell",
            )
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.month:%Y-%m} = {self.n} (all oncologists)"

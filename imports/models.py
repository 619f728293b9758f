"""What arrived from a laboratory, and what became of it.

An `ImportMessage` is one message as received (a FHIR bundle, an HL7 v2 message, a CSV batch),
raw text kept whatever its fate. It holds one `ImportReport` per laboratory report it carried,
each with its outcome: imported (recorded as a result), duplicate, unmatched (waiting in the
nurses' inbox), rejected (with the reason) or preliminary (kept, not recorded).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from patients.audit import audited
from patients.models import Patient
from surveillance.models import Draw, Result


class Format(models.TextChoices):
    FHIR = "fhir", "FHIR"
    HL7V2 = "hl7v2", "HL7 v2"
    CSV = "csv", "CSV"


class State(models.TextChoices):
    IMPORTED = "imported", "Imported"
    DUPLICATE = "duplicate", "Duplicate"
    UNMATCHED = "unmatched", "Unmatched"
    REJECTED = "rejected", "Rejected"
    PRELIMINARY = "preliminary", "Preliminary (not recorded)"


class Channel(models.TextChoices):
    API = "api", "API"
    MLLP = "mllp", "MLLP listener"
    UPLOAD = "upload", "Upload page"


# The raw text is written once and never changes: the history keeps the outcome, not copies
# of up to a megabyte per change of state.
@audited(exclude=["raw"])
class ImportMessage(models.Model):
    format = models.CharField(max_length=6, choices=Format.choices)
    channel = models.CharField(max_length=6, choices=Channel.choices, default=Channel.API)
    raw = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    # HL7 v2: MSH-10, echoed in the ACK.
    control_id = models.CharField(max_length=200, blank=True)
    # The message as a whole (the worst of its reports), for lists and answers.
    state = models.CharField(max_length=12, choices=State.choices)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["state", "received_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=State.values), name="import_state_valid"),
            models.CheckConstraint(
                condition=Q(format__in=Format.values), name="import_format_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_format_display()} message {self.pk} ({self.state})"

    @property
    def raw_lines(self) -> str:
        """The raw text with HL7's carriage-return segment ends shown as line breaks."""
        return self.raw.replace("\r\n", "\n").replace("\r", "\n")


@audited()
class ImportReport(models.Model):
    message = models.ForeignKey(ImportMessage, on_delete=models.PROTECT, related_name="reports")
    position = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices)
    reason = models.TextField(blank=True)
    # As the laboratory sent them, for the inbox and for matching by hand.
    report_id = models.CharField(max_length=200, blank=True)
    report_status = models.CharField(max_length=12, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    mrn = models.CharField(max_length=64, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    accession = models.CharField(max_length=64, blank=True)
    collected_on = models.DateField(null=True, blank=True)
    reported_on = models.DateField(null=True, blank=True)
    assay = models.CharField(max_length=64, blank=True)
    # The variants and other findings as parsed: [{"gene", "protein_change", "vaf_percent",
    # "text"}], ["TMB 12 mut/Mb", ...]
    variants = models.JSONField(default=list)
    other_findings = models.JSONField(default=list)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    draw = models.ForeignKey(
        Draw, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.ForeignKey(
        Result, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who settled it from the inbox (matched by hand or rejected), and when.
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message_id", "position"]
        indexes = [
            models.Index(fields=["report_id"]),
            models.Index(fields=["state"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=State.values), name="importreport_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=State.IMPORTED) | Q(result__isnull=False),
                name="importreport_imported_has_result",
            ),
        ]

    def __str__(self) -> str:
        return f"Report {self.report_id or self.pk} ({self.state})"

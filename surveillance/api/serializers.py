"""Serializers of draws, results and alerts: they parse types and render rows; every clinical
check is in surveillance.services (SPEC section 6)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import SlugRelatedField
from patients.models import Drug, DrugClass, Patient
from patients.selectors import patients_visible_to
from surveillance.models import Alert, Assay, Decision, Draw, Result, ResultStatus, Variant

# --------------------------------------------------------------------------------------------
# Scoped references: an id the user may not see reads as "does not exist".
# --------------------------------------------------------------------------------------------


class VisiblePatientField(serializers.PrimaryKeyRelatedField):
    default_error_messages = {"does_not_exist": "No patient with id {pk_value}."}

    def __init__(self, **kwargs):
        super().__init__(queryset=Patient.objects.all(), **kwargs)

    def get_queryset(self):
        return patients_visible_to(self.context["request"].user)


class VisibleDrawField(serializers.PrimaryKeyRelatedField):
    default_error_messages = {"does_not_exist": "No draw with id {pk_value}."}

    def __init__(self, **kwargs):
        super().__init__(queryset=Draw.objects.all(), **kwargs)

    def get_queryset(self):
        return Draw.objects.filter(patient__in=patients_visible_to(self.context["request"].user))


# --------------------------------------------------------------------------------------------
# Draws
# --------------------------------------------------------------------------------------------


class DrawSerializer(serializers.ModelSerializer):
    patient_mrn = serializers.CharField(source="patient.mrn", read_only=True)
    # A planned draw has no assay yet: "" (documented so, for clients that validate).
    assay = serializers.ChoiceField(choices=Assay.choices, allow_blank=True, read_only=True)
    result = serializers.SerializerMethodField()

    class Meta:
        model = Draw
        fields = [
            "id",
            "patient",
            "patient_mrn",
            "status",
            "due_date",
            "collected_on",
            "assay",
            "accession",
            "pinned",
            "cancel_reason",
            "result",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_result(self, draw: Draw) -> int | None:
        """The id of the draw's result, or null while it has none."""
        try:
            return draw.result.pk
        except Result.DoesNotExist:
            return None


class DrawCreateSerializer(serializers.Serializer):
    patient = VisiblePatientField()
    collected_on = serializers.DateField()
    assay = serializers.ChoiceField(choices=Assay.choices)
    accession = serializers.CharField(max_length=64, allow_blank=True, default="")


class DrawCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, trim_whitespace=True)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class VariantSerializer(serializers.ModelSerializer):
    vaf_percent = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        coerce_to_string=False,
        allow_null=True,
        help_text="null when the laboratory reported the variant without a VAF",
    )

    class Meta:
        model = Variant
        fields = [
            "gene",
            "protein_change",
            "short",
            "vaf_percent",
            "esr1_activating",
            "esr1_vus",
            "reported_text",
        ]
        read_only_fields = fields


class VariantInputSerializer(serializers.Serializer):
    gene = serializers.CharField(help_text="gene symbol, e.g. ESR1")
    protein_change = serializers.CharField(
        allow_blank=True,
        required=False,
        help_text=(
            "any common spelling: D538G, p.D538G, p.Asp538Gly, NP_000116.2:p.Asp538Gly; "
            "another gene's fusion or copy-number change is kept as written"
        ),
    )
    vaf_percent = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        required=False,
        allow_null=True,
        help_text="variant allele fraction in percent: above 0, at most 100; omit if not reported",
    )
    reported_text = serializers.CharField(
        allow_blank=True,
        required=False,
        max_length=2000,
        help_text="what the laboratory reported when not a plain variant (fusion, copy number)",
    )


class ResultSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="draw.patient_id", read_only=True)
    collected_on = serializers.DateField(source="draw.collected_on", read_only=True)
    assay = serializers.CharField(source="draw.assay", read_only=True)
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Result
        fields = [
            "id",
            "draw",
            "patient",
            "collected_on",
            "assay",
            "reported_on",
            "status",
            "esr1_status",
            "variants",
            "comment",
            "source",
            "report_id",
            "created_at",
        ]
        read_only_fields = fields


class ResultCreateSerializer(serializers.Serializer):
    draw = VisibleDrawField()
    reported_on = serializers.DateField()
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    variants = VariantInputSerializer(many=True, default=list)
    comment = serializers.CharField(allow_blank=True, default="")


# --------------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------------


class AlertPatientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mrn = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    oncologist = serializers.CharField(source="oncologist.username")


class AlertSerializer(serializers.ModelSerializer):
    patient = serializers.PrimaryKeyRelatedField(read_only=True)
    patient_summary = AlertPatientSerializer(source="patient", read_only=True)
    # Open alerts have neither: null and "" (documented so, for clients that validate).
    resolved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    decision = serializers.ChoiceField(choices=Decision.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id", "patient", "patient_summary", "kind", "severity", "status", "subject", "title",
            "rationale", "evidence", "evidence_version", "result_ids", "policy_version",
            "created_at", "updated_at",
            "resolved_at", "resolved_by", "decision", "decision_details", "note",
        ]  # fmt: skip
        read_only_fields = fields


class AlertResolveSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    evidence_version = serializers.IntegerField(
        min_value=1,
        help_text=(
            "The alert's evidence_version the decision was made on. When the evidence has "
            "changed since, the decision is refused (409, with the current alert)."
        ),
        error_messages={
            "required": (
                "Send the alert's evidence_version as it was when you reviewed the evidence; "
                "a decision covers only the evidence it was made on."
            )
        },
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4000,
        default="",
        help_text=(
            "Required for deferred and dismissed, and for switched when no scan without "
            "progression lies within the policy's switch_scan_days before the switch date."
        ),
    )
    switch_date = serializers.DateField(required=False)
    new_endocrine_therapy = SlugRelatedField(
        slug_field="code",
        queryset=Drug.objects.filter(drug_class=DrugClass.SERD),
        required=False,
        error_messages={"does_not_exist": "'{value}' is not a SERD in the drug catalogue."},
    )
    date = serializers.DateField(required=False, help_text="repeat_test: the planned draw date")


class StaleDecisionSerializer(serializers.Serializer):
    """409 from resolve: the evidence changed since the version sent; nothing was saved."""

    detail = serializers.CharField()
    alert = AlertSerializer(help_text="The alert as it is now, with its current evidence_version.")


class DuplicateDrawSerializer(serializers.Serializer):
    """409 from recording a draw: the sample is already recorded; nothing was saved."""

    detail = serializers.CharField()
    draw = serializers.IntegerField(help_text="The id of the draw that already records it.")

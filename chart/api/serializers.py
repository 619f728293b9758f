"""The patient over REST with what surveillance made of it: the verdict and the timeline.

The record's own fields, and every write, are patients.api's; these serializers only add
the engine's latest verdict and render the whole record as dated events.
"""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from patients.api import serializers as records
from patients.models import Patient

NOT_EVALUATED = "not yet evaluated"


def _state(patient: Patient):
    """The engine's latest verdict, or None before the first evaluation."""
    state = getattr(patient, "surveillance_state", None)
    return state if state is not None and state.evaluated_at is not None else None


class SurveillanceSummarySerializer(serializers.Serializer):
    eligible = serializers.BooleanField()
    reason = serializers.CharField(help_text='Why (not) eligible; "not yet evaluated" at first.')
    next_draw_due = serializers.DateField(allow_null=True)


# The API's Patient: the record as patients.api parses and renders it, and the verdict
# (read-only). No docstring: it would become the schema's description of Patient.
class PatientSerializer(records.PatientSerializer):
    risk_level = serializers.SerializerMethodField()
    risk_factors = serializers.SerializerMethodField()
    surveillance = serializers.SerializerMethodField()

    class Meta(records.PatientSerializer.Meta):
        fields = [
            *records.PatientSerializer.Meta.fields,
            "risk_level",
            "risk_factors",
            "surveillance",
        ]

    @extend_schema_field(
        serializers.ChoiceField(choices=["standard", "high"], allow_null=True, read_only=True)
    )
    def get_risk_level(self, patient) -> str | None:
        state = _state(patient)
        return (state.risk_level or None) if state else None

    def get_risk_factors(self, patient) -> list[str]:
        state = _state(patient)
        return list(state.risk_factors) if state else []

    @extend_schema_field(SurveillanceSummarySerializer)
    def get_surveillance(self, patient) -> dict:
        state = _state(patient)
        if state is None:
            return {"eligible": False, "reason": NOT_EVALUATED, "next_draw_due": None}
        return {
            "eligible": state.eligible,
            "reason": state.reason,
            "next_draw_due": state.next_draw_due,
        }


# --- Timeline ---------------------------------------------------------------------------------


class TimelinePatientSerializer(PatientSerializer):
    class Meta(PatientSerializer.Meta):
        fields = [
            "id",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "status",
            "oncologist",
            "enrolled_on",
            "risk_level",
            "risk_factors",
            "surveillance",
        ]


class _EventSerializer(serializers.Serializer):
    """Fields every timeline event carries."""

    id = serializers.IntegerField(help_text="Id of the record in its own endpoint.")
    date = serializers.DateField(help_text="Where the event sits on the time axis.")
    summary = serializers.CharField(help_text="One line for a person to read.")


class TimelineDrugSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    status_note = serializers.CharField(help_text="Shown wherever the drug is named.")


class TreatmentEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["treatment"])
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    ongoing = serializers.BooleanField()
    line_number = serializers.IntegerField()
    setting = serializers.CharField()
    endocrine_therapy = TimelineDrugSerializer(allow_null=True)
    cdk46_inhibitor = TimelineDrugSerializer(allow_null=True)
    end_reason = serializers.CharField(allow_blank=True)


class AssessmentEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["assessment"])
    modality = serializers.CharField()
    response = serializers.CharField()
    progression = serializers.BooleanField(help_text="True for PD (radiographic progression).")
    note = serializers.CharField(allow_blank=True)


class AppointmentEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["appointment"])
    kind = serializers.CharField()
    note = serializers.CharField(allow_blank=True)


class DrawEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["draw"])
    status = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    collected_on = serializers.DateField(allow_null=True)
    assay = serializers.CharField(allow_blank=True)
    accession = serializers.CharField(allow_blank=True)


class TimelineVariantSerializer(serializers.Serializer):
    gene = serializers.CharField()
    protein_change = serializers.CharField(help_text="Canonical HGVS, e.g. p.Asp538Gly.")
    short = serializers.CharField(help_text="Short form, e.g. D538G.")
    vaf_percent = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        coerce_to_string=False,
        allow_null=True,
        help_text="null when the laboratory reported the variant without a VAF",
    )
    esr1_activating = serializers.BooleanField()
    esr1_vus = serializers.BooleanField()


class ResultEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["result"])
    draw = serializers.IntegerField()
    collected_on = serializers.DateField(allow_null=True)
    status = serializers.CharField()
    esr1_status = serializers.CharField()
    variants = TimelineVariantSerializer(many=True)


class AlertEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["alert"])
    kind = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    title = serializers.CharField()
    rationale = serializers.CharField()
    evidence = serializers.JSONField()
    policy_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(allow_null=True, help_text="Username.")
    decision = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)


EVENT_SERIALIZERS = {
    "treatment": TreatmentEventSerializer,
    "assessment": AssessmentEventSerializer,
    "appointment": AppointmentEventSerializer,
    "draw": DrawEventSerializer,
    "result": ResultEventSerializer,
    "alert": AlertEventSerializer,
}


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="TimelineEvent",
        serializers=EVENT_SERIALIZERS,
        resource_type_field_name="type",
        many=False,
    )
)
class TimelineEventField(serializers.Field):
    """Renders each event with the serializer of its ``type``."""

    def to_representation(self, event):
        data = EVENT_SERIALIZERS[event["type"]](event).data
        return {"type": data.pop("type"), **data}


class TimelineSerializer(serializers.Serializer):
    """``patient``: a summary; ``events``: every event, oldest first (ties: treatment,
    assessment, appointment, draw, result, alert). Each event has ``type``, ``id``, ``date``
    and ``summary`` plus the fields of its type. Treatments sit at their start date and carry
    ``end_date``; draws at their due date while planned, else the collection date; results at
    the report date; alerts at the day they were raised."""

    patient = TimelinePatientSerializer()
    events = serializers.ListField(child=TimelineEventField())

"""Parse and render; every domain rule lives in patients/services.py.

Input serializers only turn JSON into Python values (dates, booleans, related objects the
user may see); the services decide what is allowed. Related records are looked up through
patients.selectors so the API never resolves a patient the user could not open.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from accounts.roles import Role
from config.api import SlugRelatedField
from patients.models import Appointment, Assessment, MetastaticSite, Patient, Treatment
from patients.selectors import patients_visible_to


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "enum": MetastaticSite.values}},
)
class MetastaticSitesField(serializers.ListField):
    """A list of site codes. Checked by the service, which names the unknown ones."""

    child = serializers.CharField()


class OncologistField(SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(
            slug_field="username",
            queryset=User.objects.filter(role=Role.ONCOLOGIST, is_active=True),
            error_messages={
                "does_not_exist": "No active oncologist has the username '{value}'.",
                "invalid": "Give the oncologist's username.",
            },
            **kwargs,
        )


class PatientFieldMixin(serializers.Serializer):
    """`patient` as an id, resolved only among the patients the requesting user may see."""

    patient = serializers.PrimaryKeyRelatedField(
        queryset=Patient.objects.none(),
        error_messages={"does_not_exist": "No patient with id {pk_value}."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and "patient" in self.fields:
            self.fields["patient"].queryset = patients_visible_to(request.user)


class PatientSerializer(serializers.ModelSerializer):
    oncologist = OncologistField(help_text="Username of the treating oncologist.")
    metastatic_sites = MetastaticSitesField(required=False)

    class Meta:
        model = Patient
        fields = [
            "id",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "sex",
            "er_status",
            "pr_status",
            "her2_status",
            "metastatic_diagnosis_date",
            "metastatic_sites",
            "prior_adjuvant_ai",
            "high_tumour_burden",
            "oncologist",
            "status",
            "enrolled_on",
        ]
        extra_kwargs = {
            # Uniqueness is the service's call (one message, whatever the caller).
            "mrn": {"validators": []},
            "enrolled_on": {"required": False, "help_text": "Defaults to the clinic's today."},
        }


@extend_schema_field(OpenApiTypes.STR)
class DrugCodeField(serializers.CharField):
    """A drug by its catalogue code (``letrozole``); the service checks the code."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, allow_blank=True, required=False, **kwargs)

    def to_representation(self, drug):
        return drug.code


class TreatmentSerializer(PatientFieldMixin, serializers.ModelSerializer):
    endocrine_therapy = DrugCodeField(
        help_text="Aromatase inhibitor, SERD or SERM code, e.g. letrozole, fulvestrant."
    )
    cdk46_inhibitor = DrugCodeField(help_text="palbociclib, ribociclib or abemaciclib.")
    endocrine_therapy_name = serializers.CharField(
        source="endocrine_therapy.name", read_only=True, allow_null=True
    )
    endocrine_therapy_status_note = serializers.CharField(
        source="endocrine_therapy.status_note", read_only=True, allow_null=True
    )
    cdk46_inhibitor_name = serializers.CharField(
        source="cdk46_inhibitor.name", read_only=True, allow_null=True
    )
    cdk46_inhibitor_status_note = serializers.CharField(
        source="cdk46_inhibitor.status_note", read_only=True, allow_null=True
    )

    class Meta:
        model = Treatment
        fields = [
            "id",
            "patient",
            "line_number",
            "setting",
            "endocrine_therapy",
            "endocrine_therapy_name",
            "endocrine_therapy_status_note",
            "cdk46_inhibitor",
            "cdk46_inhibitor_name",
            "cdk46_inhibitor_status_note",
            "start_date",
            "end_date",
            "end_reason",
        ]
        extra_kwargs = {"end_reason": {"allow_null": True}}


class AssessmentSerializer(PatientFieldMixin, serializers.ModelSerializer):
    class Meta:
        model = Assessment
        fields = ["id", "patient", "date", "modality", "response", "note"]


class AppointmentSerializer(PatientFieldMixin, serializers.ModelSerializer):
    class Meta:
        model = Appointment
        fields = ["id", "patient", "date", "kind", "note"]

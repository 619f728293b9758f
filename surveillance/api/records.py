"""Draws and results: `/api/v1/draws/` and `/api/v1/results/` (SPEC section 6).

Serializers parse types; every clinical check is in surveillance/services.py. Results are
not edited or deleted through the API: a report is recorded once per draw.
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from patients.models import Patient
from patients.selectors import patients_visible_to
from surveillance.models import (
    Assay,
    Draw,
    DrawStatus,
    Esr1Status,
    Result,
    ResultStatus,
    Variant,
)
from surveillance.services import (
    VARIANT_ROW_CODE,
    draw_cancel,
    draw_record,
    result_record,
)

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


class DrawFilter(filters.FilterSet):
    patient = filters.NumberFilter(field_name="patient_id", help_text="patient id")
    status = filters.ChoiceFilter(choices=DrawStatus.choices)

    class Meta:
        model = Draw
        fields = ["patient", "status"]


class DrawViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Blood draws. POST records a collected sample; it fulfils the patient's planned draw
    when there is one (same id, due date kept)."""

    serializer_class = DrawSerializer
    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_CLINICAL, "POST": Action.RECORD_DRAW}
    filterset_class = DrawFilter

    def get_queryset(self):
        return (
            Draw.objects.filter(patient__in=patients_visible_to(self.request.user))
            .select_related("patient", "result")
            .order_by("patient_id", "id")
        )

    @extend_schema(request=DrawCreateSerializer, responses={201: DrawSerializer})
    def create(self, request):
        data = DrawCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        draw = draw_record(actor=request.user, **data.validated_data)
        return Response(self._render(draw), status=status.HTTP_201_CREATED)

    @extend_schema(request=DrawCancelSerializer, responses={200: DrawSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a draw recorded by mistake (a resulted draw cannot be cancelled)."""
        draw = self.get_object()
        data = DrawCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draw = draw_cancel(actor=request.user, draw=draw, reason=data.validated_data["reason"])
        return Response(self._render(draw))

    def _render(self, draw: Draw) -> dict:
        return DrawSerializer(self.get_queryset().get(pk=draw.pk)).data


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class VariantSerializer(serializers.ModelSerializer):
    vaf_percent = serializers.DecimalField(max_digits=7, decimal_places=4, coerce_to_string=False)

    class Meta:
        model = Variant
        fields = ["gene", "protein_change", "short", "vaf_percent", "esr1_activating", "esr1_vus"]
        read_only_fields = fields


class VariantInputSerializer(serializers.Serializer):
    gene = serializers.CharField(help_text="gene symbol, e.g. ESR1")
    protein_change = serializers.CharField(
        help_text="any common spelling: D538G, p.D538G, p.Asp538Gly, ESR1:p.(Asp538Gly)"
    )
    vaf_percent = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        help_text="variant allele fraction in percent: above 0, at most 100",
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
            "created_at",
        ]
        read_only_fields = fields


class ResultCreateSerializer(serializers.Serializer):
    draw = VisibleDrawField()
    reported_on = serializers.DateField()
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    variants = VariantInputSerializer(many=True, default=list)
    comment = serializers.CharField(allow_blank=True, default="")


class ResultFilter(filters.FilterSet):
    patient = filters.NumberFilter(field_name="draw__patient_id", help_text="patient id")
    draw = filters.NumberFilter(field_name="draw_id", help_text="draw id")
    status = filters.ChoiceFilter(choices=ResultStatus.choices)
    esr1_status = filters.ChoiceFilter(choices=Esr1Status.choices)

    class Meta:
        model = Result
        fields = ["patient", "draw", "status", "esr1_status"]


class ResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """ctDNA results, one per draw, with variants in canonical form and the derived
    `esr1_status`. Recorded once; there is no edit or delete."""

    serializer_class = ResultSerializer
    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_CLINICAL, "POST": Action.RECORD_RESULT}
    filterset_class = ResultFilter

    def get_queryset(self):
        return (
            Result.objects.filter(draw__patient__in=patients_visible_to(self.request.user))
            .select_related("draw")
            .prefetch_related("variants")
            .order_by("draw_id")
        )

    @extend_schema(request=ResultCreateSerializer, responses={201: ResultSerializer})
    def create(self, request):
        data = ResultCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            result = result_record(actor=request.user, **values)
        except DjangoValidationError as exc:
            raise api_errors(exc, variant_count=len(values["variants"])) from exc
        rendered = ResultSerializer(self.get_queryset().get(pk=result.pk)).data
        return Response(rendered, status=status.HTTP_201_CREATED)


def api_errors(exc: DjangoValidationError, *, variant_count: int) -> exceptions.ValidationError:
    """The service's errors, with variant-row errors nested the way DRF nests a list
    serializer's, so a row the service rejects reads like a row the parser rejected:
    `{"variants": {"1": {"protein_change": ["Cannot read ..."]}}}` (keyed by 0-based row
    index; `[{}, {...}]` if LIST_SERIALIZER_ERRORS_AS_DICT is turned off)."""
    non_field_key = api_settings.NON_FIELD_ERRORS_KEY
    detail: dict = {}
    for field, errors in exc.error_dict.items():
        key = non_field_key if field == NON_FIELD_ERRORS else field
        rows: dict[int, dict[str, list[str]]] = {}
        flat: list[str] = []
        for error in errors:
            params = error.params or {}
            if error.code == VARIANT_ROW_CODE:
                row_key = non_field_key if params["field"] == NON_FIELD_ERRORS else params["field"]
                rows.setdefault(params["index"], {}).setdefault(row_key, []).append(
                    params["message"]
                )
            else:
                flat.extend(error.messages)
        if not rows:
            detail[key] = flat
            continue
        if api_settings.LIST_SERIALIZER_ERRORS_AS_DICT:
            detail[key] = rows
        else:
            detail[key] = [rows.get(index, {}) for index in range(variant_count)]
        if flat:  # the service reports row errors or list errors, not both; kept anyway
            detail.setdefault(non_field_key, []).extend(flat)
    return exceptions.ValidationError(detail)

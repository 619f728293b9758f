import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView, get_object_or_404
from rest_framework.response import Response

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from config.api import SlugRelatedField
from patients.models import Drug, DrugClass
from surveillance.decisions import alert_resolve
from surveillance.models import Alert, AlertKind, AlertStatus, Decision
from surveillance.selectors import alerts_visible_to, worklist_for


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
            "rationale", "evidence", "result_ids", "policy_version", "created_at", "updated_at",
            "resolved_at", "resolved_by", "decision", "decision_details", "note",
        ]  # fmt: skip
        read_only_fields = fields


class AlertResolveSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    switch_date = serializers.DateField(required=False)
    new_endocrine_therapy = SlugRelatedField(
        slug_field="code",
        queryset=Drug.objects.filter(drug_class=DrugClass.SERD),
        required=False,
        error_messages={"does_not_exist": "'{value}' is not a SERD in the drug catalogue."},
    )
    date = serializers.DateField(required=False, help_text="repeat_test: the planned draw date")


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    kind = django_filters.ChoiceFilter(choices=AlertKind.choices)

    class Meta:
        model = Alert
        fields = ["patient", "status", "kind"]


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts raised by the surveillance engine; resolve one with a decision."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    permission_classes = [RoleActionPermission]
    # Resolving is allowed to clinicians here; who may decide which kind is checked in
    # surveillance.decisions (nurses: logistics alerts only).
    role_actions = {"GET": Action.VIEW_CLINICAL, "POST": Action.RESOLVE_LOGISTICS_ALERT}

    def get_queryset(self):
        return alerts_visible_to(self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=AlertResolveSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        # DRF's get_object_or_404: an id that is not a number is a 404 (Django's: a 500).
        alert = get_object_or_404(self.get_queryset(), pk=pk)
        data = AlertResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.get("new_endocrine_therapy") is not None:
            values["new_endocrine_therapy"] = values["new_endocrine_therapy"].code
        alert = alert_resolve(actor=request.user, alert=alert, **values)
        return Response(AlertSerializer(alert).data)


class WorklistView(ListAPIView):
    """The signed-in user's prioritised open work (see surveillance.selectors.worklist_for)."""

    serializer_class = AlertSerializer
    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_CLINICAL}
    filter_backends: list = []

    def get_queryset(self):
        return worklist_for(user=self.request.user)

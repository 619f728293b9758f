"""Draws, results, alerts and the worklist over REST (SPEC section 6).

Each view parses with a serializer (surveillance.api.serializers), calls one service
(surveillance.services) or selector (surveillance.selectors), and renders. A refused write
raises the services' ValidationError, which config.api renders as the 400 every endpoint
gives. Results are not edited or deleted through the API: a report is recorded once per draw.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView, get_object_or_404
from rest_framework.response import Response

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from patients.access_log import LogsPatientReads
from patients.models import clinic_today
from patients.selectors import patients_visible_to
from surveillance.api.filters import AlertFilter, DrawFilter, ResultFilter
from surveillance.api.serializers import (
    AlertResolveSerializer,
    AlertSerializer,
    DrawCancelSerializer,
    DrawCreateSerializer,
    DrawSerializer,
    DuplicateDrawSerializer,
    ResultCreateSerializer,
    ResultSerializer,
    StaleDecisionSerializer,
)
from surveillance.models import Draw, Result
from surveillance.selectors import alerts_visible_to, worklist_for
from surveillance.services import (
    StaleEvidence,
    alert_resolve,
    draw_cancel,
    draw_record,
    may_resolve,
    result_record,
)


class DrawViewSet(
    LogsPatientReads, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
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

    @extend_schema(
        request=DrawCreateSerializer,
        responses={201: DrawSerializer, 409: DuplicateDrawSerializer},
    )
    def create(self, request):
        """Record a collected sample. The same patient, collection day and assay again is a
        409 naming the draw that already records it (config.api renders DuplicateDraw)."""
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


class ResultViewSet(
    LogsPatientReads, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
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
        result = result_record(actor=request.user, **data.validated_data)
        rendered = ResultSerializer(self.get_queryset().get(pk=result.pk)).data
        return Response(rendered, status=status.HTTP_201_CREATED)


class AlertViewSet(
    LogsPatientReads, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Alerts raised by the surveillance engine; resolve one with a decision."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    permission_classes = [RoleActionPermission]
    # Resolving is allowed to clinicians here; who may decide which kind is checked in
    # surveillance.services.decisions (nurses: logistics alerts only).
    role_actions = {"GET": Action.VIEW_CLINICAL, "POST": Action.RESOLVE_LOGISTICS_ALERT}

    def get_queryset(self):
        return alerts_visible_to(self.request.user).order_by("-created_at", "-id")

    @extend_schema(
        request=AlertResolveSerializer,
        responses={200: AlertSerializer, 409: StaleDecisionSerializer},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Decide on an alert. `evidence_version` is the version of the evidence the
        decision was made on; when the evidence has changed since, the answer is a 409 with
        the current alert and nothing is saved."""
        # DRF's get_object_or_404: an id that is not a number is a 404 (Django's: a 500).
        alert = get_object_or_404(self.get_queryset(), pk=pk)
        if not may_resolve(request.user, alert):  # the role first, then the input
            raise PermissionDenied("Only an oncologist may decide on an ESR1 alert.")
        data = AlertResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.get("new_endocrine_therapy") is not None:
            values["new_endocrine_therapy"] = values["new_endocrine_therapy"].code
        try:
            alert = alert_resolve(actor=request.user, alert=alert, **values)
        except StaleEvidence as exc:
            current = self.get_queryset().get(pk=alert.pk)
            body = {"detail": exc.detail, "alert": AlertSerializer(current).data}
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(AlertSerializer(alert).data)


class WorklistView(LogsPatientReads, ListAPIView):
    """The signed-in user's prioritised open work (see surveillance.selectors.worklist_for)."""

    serializer_class = AlertSerializer
    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_CLINICAL}
    filter_backends: list = []
    read_action = "api:worklist"

    def get_queryset(self):
        # The same selector as the home page, so the two list the same work.
        return worklist_for(user=self.request.user, today=clinic_today()).alerts

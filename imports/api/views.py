"""Laboratory reports over REST (SPEC 7).

`POST /api/v1/imports/fhir/`, `/hl7v2/` and `/csv/` take the message as the request body, as
the laboratory sends it (any content type), and answer `{"import", "state", "result",
"reason", "reports"}` with 201 imported, 200 duplicate, 202 unmatched or preliminary, 422
rejected, 400 unreadable and 413 over 1 MB. `GET /api/v1/imports/` lists what arrived (filter
`?state=unmatched` for the inbox), `POST /api/v1/imports/{id}/match/` and `/reject/` settle an
unmatched report.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from config.throttling import AnonRateThrottle, ImportRateThrottle
from imports.api.serializers import (
    ImportAnswerSerializer,
    ImportMessageDetailSerializer,
    ImportMessageSerializer,
    MatchSerializer,
    RejectSerializer,
)
from imports.inbox import import_match, import_reject
from imports.models import Format, ImportMessage, ImportReport, State
from imports.selectors import import_messages_for, log_import_reads
from imports.services import HTTP_STATUS, MessageTooLarge, Unreadable, import_message
from patients.selectors import patient_for_user
from surveillance.models import Draw


class RawBodyParser(BaseParser):
    """The request body as it came: a FHIR bundle, an HL7 v2 message, a CSV batch."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


def answer(message: ImportMessage) -> dict:
    # The import hands back the reports it has just stored; no need to read them again.
    reports = getattr(message, "stored_reports", None) or list(message.reports.all())
    first_result = next((r.result_id for r in reports if r.result_id), None)
    return {
        "import": message.pk,
        "state": message.state,
        "result": first_result,
        "reason": message.reason,
        "reports": [
            {
                "id": r.pk,
                "report_id": r.report_id,
                "state": r.state,
                "result": r.result_id,
                "reason": r.reason,
            }
            for r in reports
        ],
    }


class ImportView(APIView):
    permission_classes = [RoleActionPermission]
    role_actions = {"POST": Action.IMPORT_REPORTS}
    parser_classes = [RawBodyParser]
    throttle_classes = [AnonRateThrottle, ImportRateThrottle]
    format_name = ""

    @extend_schema(
        request={"*/*": bytes},
        responses={
            201: ImportAnswerSerializer,
            200: ImportAnswerSerializer,
            202: ImportAnswerSerializer,
            422: ImportAnswerSerializer,
            413: OpenApiResponse(description="The message is over 1 MB; nothing was kept."),
        },
    )
    def post(self, request):
        # An empty or form-encoded body parses to a dict: read it as an empty message.
        raw = request.data if isinstance(request.data, bytes | str) else b""
        try:
            message = import_message(actor=request.user, fmt=self.format_name, raw=raw)
        except MessageTooLarge as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        except Unreadable as exc:
            body = answer(exc.message)
            body["detail"] = exc.message.reason
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(answer(message), status=HTTP_STATUS[message.state])


class FhirImportView(ImportView):
    """A FHIR R4 Genomics Reporting bundle (DiagnosticReport, Patient, Specimen, variant
    Observations)."""

    format_name = Format.FHIR


class Hl7v2ImportView(ImportView):
    """An HL7 v2.5.1 ORU^R01 message (segments separated by carriage returns)."""

    format_name = Format.HL7V2


class CsvImportView(ImportView):
    """A CSV batch, one row per variant, header mrn,accession,collected_on,reported_on,...."""

    format_name = Format.CSV


class ImportMessageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Every message received, whatever became of it; `?state=unmatched` is the inbox."""

    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_CLINICAL, "POST": Action.RECORD_RESULT}
    serializer_class = ImportMessageSerializer

    def get_serializer_class(self):
        return (
            ImportMessageDetailSerializer
            if self.action == "retrieve"
            else super().get_serializer_class()
        )

    def get_queryset(self):
        state = self.request.query_params.get("state") if self.action == "list" else None
        return import_messages_for(self.request.user, state=state)

    @extend_schema(parameters=[OpenApiParameter("state", enum=State.values)])
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        log_import_reads(user=request.user, messages=page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        message = self.get_object()
        log_import_reads(user=request.user, messages=[message])
        return Response(self.get_serializer(message).data)

    def _report(self, message: ImportMessage, report_id) -> ImportReport:
        reports = message.reports.all()
        if report_id is not None:
            return get_object_or_404(reports, pk=report_id)
        unmatched = [r for r in reports if r.state == State.UNMATCHED]
        return unmatched[0] if len(unmatched) == 1 else get_object_or_404(reports, pk=None)

    @extend_schema(request=MatchSerializer, responses={200: ImportMessageDetailSerializer})
    @action(detail=True, methods=["post"])
    def match(self, request, pk=None):
        """Record an unmatched report on a patient's draw (or a draw made from its dates)."""
        message = self.get_object()
        data = MatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = self._report(message, data.validated_data.get("report"))
        patient = patient_for_user(request.user, data.validated_data["patient"], log_view="import")
        draw_id = data.validated_data.get("draw")
        draw = get_object_or_404(Draw, pk=draw_id, patient=patient) if draw_id else None
        import_match(actor=request.user, report=report, patient=patient, draw=draw)
        return Response(ImportMessageDetailSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=RejectSerializer, responses={200: ImportMessageDetailSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject an unmatched report, with the reason."""
        message = self.get_object()
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = self._report(message, data.validated_data.get("report"))
        import_reject(actor=request.user, report=report, reason=data.validated_data["reason"])
        return Response(ImportMessageDetailSerializer(self.get_queryset().get(pk=pk)).data)

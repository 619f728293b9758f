"""/api/v1/patients/: the patient record (patients.api) with the surveillance verdict, and
/api/v1/patients/{id}/timeline/, the whole record as dated events."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from chart.api import filters, serializers
from chart.timeline import patient_timeline
from patients.api import views as records


class PatientViewSet(records.PatientViewSet):
    """Patients. ``risk_level``, ``risk_factors`` and ``surveillance`` are the surveillance
    engine's latest verdict and read-only."""

    serializer_class = serializers.PatientSerializer
    filterset_class = filters.PatientFilter

    def get_queryset(self):
        return super().get_queryset().select_related("surveillance_state")

    @extend_schema(
        responses=serializers.TimelineSerializer,
        summary="Everything on the patient's record, oldest first",
        description=(
            "`patient` is a summary of the record with the surveillance verdict. `events` "
            "lists treatments, assessments, appointments, draws, results and alerts in date "
            "order (ties in that order). Every event has `type`, `id` (its id in its own "
            "endpoint), `date` and a readable `summary`, plus the fields of its type: a "
            "treatment sits at its start date and carries `end_date` (null while ongoing); a "
            "draw sits at its due date while planned, else at its collection date; a result "
            "at its report date, with its variants and `esr1_status`; an alert at the day "
            "it was raised. Viewing the timeline is logged as a view of the record."
        ),
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def timeline(self, request, pk=None):
        patient = self.get_object()
        self.read_action = "api:timeline"
        self.note_reads(patient)
        events = patient_timeline(patient=patient)
        return Response(
            serializers.TimelineSerializer({"patient": patient, "events": events}).data,
            status=status.HTTP_200_OK,
        )

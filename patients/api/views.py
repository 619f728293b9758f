"""Patients, treatments, assessments and appointments over REST (SPEC section 6).

Each viewset parses with a serializer, calls one service (patients.services) or selector,
and renders. /api/v1/patients/ itself is routed by chart.api, which adds what surveillance
made of the record. Who may do what is in accounts.roles (via ``role_actions``); what a user may
see comes from patients.selectors.patients_visible_to. Nothing is ever deleted here: a
patient leaves care by PATCHing ``status``.
"""

from rest_framework import mixins, viewsets
from rest_framework.response import Response

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from config.pagination import KeysetPagination
from patients import services
from patients.access_log import LogsPatientReads
from patients.api import filters, serializers
from patients.models import Appointment, Assessment, Patient, Treatment
from patients.selectors import patients_visible_to


class _ClinicalViewSet(
    LogsPatientReads,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """GET, POST and PATCH; PUT and DELETE are not offered. Every GET is logged as a read of
    the patients it shows (patients.access_log)."""

    permission_classes = [RoleActionPermission]
    http_method_names = ["get", "post", "patch", "head", "options"]
    create_service = None
    update_service = None
    instance_name = ""
    # Records hanging off a patient: the model and what each row renders with.
    record_model = None
    related = ("patient",)

    def get_queryset(self):
        return self.record_model.objects.filter(
            patient__in=patients_visible_to(self.request.user)
        ).select_related(*self.related)

    def perform_create(self, serializer):
        serializer.instance = self.create_service(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = self.update_service(
            actor=self.request.user,
            **{self.instance_name: serializer.instance},
            **serializer.validated_data,
        )


class PatientPagination(KeysetPagination):
    """Patients in name order (Patient.Meta, on the name index): numbered pages are paged by
    id first, and `next` links go on by key, so a page deep in a long filtered list costs
    what the first page does."""

    ordering = ("family_name", "given_name", "id")


class PatientViewSet(_ClinicalViewSet):
    """The patient record: read, register, change. Routed by chart.api, whose subclass adds the
    surveillance verdict and the timeline at /api/v1/patients/."""

    queryset = Patient.objects.none()  # the real one is get_queryset's
    serializer_class = serializers.PatientSerializer
    filterset_class = filters.PatientFilter
    pagination_class = PatientPagination
    role_actions = {
        "GET": Action.VIEW_CLINICAL,
        "POST": Action.EDIT_PATIENT,
        "PATCH": Action.EDIT_PATIENT,
    }
    create_service = staticmethod(services.patient_create)
    update_service = staticmethod(services.patient_update)
    instance_name = "patient"

    def get_queryset(self):
        return patients_visible_to(self.request.user).select_related("oncologist")

    def retrieve(self, request, *args, **kwargs):
        patient = self.get_object()
        return Response(self.get_serializer(patient).data)

    def perform_create(self, serializer):
        super().perform_create(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_update(self, serializer):
        super().perform_update(serializer)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)


class TreatmentViewSet(_ClinicalViewSet):
    """Treatment periods. Drugs are given by catalogue code (``letrozole``); the names and
    status notes come back read-only."""

    queryset = Treatment.objects.none()
    record_model = Treatment
    related = ("patient", "endocrine_therapy", "cdk46_inhibitor")
    serializer_class = serializers.TreatmentSerializer
    filterset_class = filters.TreatmentFilter
    role_actions = {
        "GET": Action.VIEW_CLINICAL,
        "POST": Action.EDIT_TREATMENT,
        "PATCH": Action.EDIT_TREATMENT,
    }
    create_service = staticmethod(services.treatment_create)
    update_service = staticmethod(services.treatment_update)
    instance_name = "treatment"


class AssessmentViewSet(_ClinicalViewSet):
    """Completed imaging assessments; ``PD`` is radiographic progression."""

    queryset = Assessment.objects.none()
    record_model = Assessment
    serializer_class = serializers.AssessmentSerializer
    filterset_class = filters.AssessmentFilter
    role_actions = {
        "GET": Action.VIEW_CLINICAL,
        "POST": Action.EDIT_ASSESSMENT,
        "PATCH": Action.EDIT_ASSESSMENT,
    }
    create_service = staticmethod(services.assessment_create)
    update_service = staticmethod(services.assessment_update)
    instance_name = "assessment"


class AppointmentViewSet(_ClinicalViewSet):
    """Upcoming clinic visits and scans, which blood draws are aligned with."""

    queryset = Appointment.objects.none()
    record_model = Appointment
    serializer_class = serializers.AppointmentSerializer
    filterset_class = filters.AppointmentFilter
    role_actions = {
        "GET": Action.VIEW_CLINICAL,
        "POST": Action.RECORD_APPOINTMENT,
        "PATCH": Action.RECORD_APPOINTMENT,
    }
    create_service = staticmethod(services.appointment_create)
    update_service = staticmethod(services.appointment_update)
    instance_name = "appointment"

"""GET /api/v1/access-log/ (SPEC section 6): who read which patient's record, when, how and
where; for administrators, who have no clinical access, so a row names the patient by id and
MRN only. Reading the log is itself logged (patients.access_log.log_audit_read)."""

from django_filters import rest_framework as filters
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from patients.access_log import log_audit_read
from patients.models import PatientAccess


class AccessLogFilter(filters.FilterSet):
    patient = filters.NumberFilter(field_name="patient_id", label="Patient id.")
    user = filters.CharFilter(
        field_name="user__username", lookup_expr="iexact", label="Username of the reader."
    )
    since = filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", label="Reads at or after this ISO 8601 date-time."
    )

    class Meta:
        model = PatientAccess
        fields = ["patient", "user", "since"]


class AccessLogSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    mrn = serializers.CharField(source="patient.mrn", read_only=True)
    action = serializers.CharField(source="view", read_only=True)

    class Meta:
        model = PatientAccess
        fields = ["at", "user", "patient", "mrn", "action", "path"]


class AccessLogView(ListAPIView):
    """Reads of patient records, newest first (administrators only)."""

    serializer_class = AccessLogSerializer
    filterset_class = AccessLogFilter
    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_AUDIT}

    def get_queryset(self):
        return PatientAccess.objects.select_related("user", "patient").order_by("-at", "-id")

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        log_audit_read(request, view="api:access-log")
        return response

"""Django admin for the patients app.

Administrators have no clinical access (SPEC section 1): their role group holds no
permission on patients, treatments, assessments or appointments, so those pages do not
exist for them. A superuser can look at clinical records (break-glass) but not change
them here: clinical writes go through patients.services, which validate, attribute the
change in the audit history and trigger re-evaluation, none of which an admin form would.
Viewing a patient here is logged like any other view of the record.

What administrators do keep here: the drug catalogue's status notes, and the patient
record access log (read-only).
"""

from django.contrib import admin
from django.utils import timezone

from patients.access_log import LogsAdminReads
from patients.audit_admin import (
    AuditFilter,
    CsvExportMixin,
    day_range,
    find_patient_id,
    find_user_id,
)
from patients.models import (
    Appointment,
    Assessment,
    AuditTrailRead,
    Drug,
    Patient,
    PatientAccess,
    Treatment,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by whoever holds the view permission; nobody adds, changes or deletes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TreatmentInline(_ReadOnlyInline):
    model = Treatment
    fields = (
        "line_number",
        "setting",
        "endocrine_therapy",
        "cdk46_inhibitor",
        "start_date",
        "end_date",
        "end_reason",
    )


class AssessmentInline(_ReadOnlyInline):
    model = Assessment
    fields = ("date", "modality", "response", "note")


class AppointmentInline(_ReadOnlyInline):
    model = Appointment
    fields = ("date", "kind", "note")


@admin.register(Patient)
class PatientAdmin(LogsAdminReads, ReadOnlyAdmin):
    read_action = "admin:patient"

    list_display = (
        "mrn",
        "family_name",
        "given_name",
        "birth_date",
        "oncologist",
        "status",
        "her2_status",
        "enrolled_on",
    )
    list_filter = ("status", "oncologist", "er_status", "pr_status", "her2_status", "sex")
    search_fields = ("mrn", "given_name", "family_name")
    list_select_related = ("oncologist",)
    date_hierarchy = "enrolled_on"
    ordering = ("family_name", "given_name")
    inlines = (TreatmentInline, AssessmentInline, AppointmentInline)


@admin.register(Treatment)
class TreatmentAdmin(LogsAdminReads, ReadOnlyAdmin):
    read_action = "admin:treatment"

    list_display = (
        "patient",
        "line_number",
        "setting",
        "endocrine_therapy",
        "cdk46_inhibitor",
        "start_date",
        "end_date",
        "end_reason",
    )
    list_filter = ("setting", "line_number", "endocrine_therapy", "cdk46_inhibitor", "end_reason")
    search_fields = ("patient__mrn", "patient__family_name", "patient__given_name")
    list_select_related = ("patient", "endocrine_therapy", "cdk46_inhibitor")
    date_hierarchy = "start_date"


@admin.register(Assessment)
class AssessmentAdmin(LogsAdminReads, ReadOnlyAdmin):
    read_action = "admin:assessment"

    list_display = ("patient", "date", "modality", "response")
    list_filter = ("modality", "response")
    search_fields = ("patient__mrn", "patient__family_name", "patient__given_name")
    list_select_related = ("patient",)
    date_hierarchy = "date"


@admin.register(Appointment)
class AppointmentAdmin(LogsAdminReads, ReadOnlyAdmin):
    read_action = "admin:appointment"

    list_display = ("patient", "date", "kind", "note")
    list_filter = ("kind",)
    search_fields = ("patient__mrn", "patient__family_name", "patient__given_name")
    list_select_related = ("patient",)
    date_hierarchy = "date"


@admin.register(Drug)
class DrugAdmin(admin.ModelAdmin):
    """The catalogue is fixed by migration; admins keep each drug's status note current."""

    list_display = ("name", "code", "drug_class", "status_note")
    list_filter = ("drug_class",)
    search_fields = ("code", "name")
    fields = ("code", "name", "drug_class", "status_note")
    readonly_fields = ("code", "name", "drug_class")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PatientAccess)
class PatientAccessAdmin(CsvExportMixin, ReadOnlyAdmin):
    """Who opened which patient record, and where. Append-only: written by the views, and
    the table refuses UPDATE and DELETE (PatientAccess.Meta.triggers)."""

    list_display = ("at", "user", "patient_id", "patient_mrn", "view", "path")
    list_filter = (AuditFilter, "view")
    search_fields = ("user__username", "patient__mrn")
    list_select_related = ("user", "patient")
    date_hierarchy = "at"
    show_facets = admin.ShowFacets.NEVER
    # The log identifies the record by id and MRN; names stay in the clinical record.
    fields = ("at", "user", "patient_id", "patient_mrn", "view", "path")
    readonly_fields = fields
    csv_filename = "record-access"
    csv_header = ["at", "user", "user_id", "patient_id", "mrn", "view", "path"]

    @admin.display(description="MRN", ordering="patient__mrn")
    def patient_mrn(self, obj):
        return obj.patient.mrn

    def filter_audit(self, request, queryset, *, username, patient, since, until):
        if username:
            user_id = find_user_id(request, username)
            if user_id is None:
                return queryset.none()
            queryset = queryset.filter(user_id=user_id)
        if patient:
            patient_id = find_patient_id(request, patient)
            if patient_id is None:
                return queryset.none()
            queryset = queryset.filter(patient_id=patient_id)
        for lookup, instant in day_range(since, until).items():
            queryset = queryset.filter(**{f"at__{lookup}": instant})
        return queryset

    def csv_row(self, access) -> list:
        return [
            timezone.localtime(access.at).isoformat(),
            access.user.username,
            access.user_id,
            access.patient_id,
            access.patient.mrn,
            access.view,
            access.path,
        ]


@admin.register(AuditTrailRead)
class AuditTrailReadAdmin(ReadOnlyAdmin):
    """Who read or exported the change history or the access log, and with which filters."""

    list_display = ("at", "user", "view", "path", "query")
    list_filter = ("view",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "at"
    show_facets = admin.ShowFacets.NEVER
    fields = list_display
    readonly_fields = fields

"""Django admin for the surveillance app.

Clinical rows (draws, results) are shown read-only to everyone: they are written through
surveillance.services, which validates, audits and queues re-evaluation, and the admin
would bypass all three. Administrators hold no view permission on them (accounts/roles.py),
so in practice only a superuser sees these pages, for support.
"""

from django.contrib import admin
from django.db import transaction

from patients.access_log import LogsAdminReads
from surveillance.models import (
    Alert,
    AssayProfile,
    Draw,
    Result,
    SurveillancePolicy,
    Variant,
)


class ReadOnlyAdminMixin:
    """View only: no add, change or delete, whoever asks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --------------------------------------------------------------------------------------------
# Draws and results
# --------------------------------------------------------------------------------------------


@admin.register(Draw)
class DrawAdmin(LogsAdminReads, ReadOnlyAdminMixin, admin.ModelAdmin):
    read_action = "admin:draw"
    list_display = (
        "id",
        "patient_mrn",
        "status",
        "due_date",
        "collected_on",
        "assay",
        "accession",
        "pinned",
    )
    list_filter = ("status", "assay", "pinned")
    search_fields = ("accession", "patient__mrn", "patient__family_name")
    list_select_related = ("patient",)
    date_hierarchy = "collected_on"
    ordering = ("-id",)

    @admin.display(description="MRN", ordering="patient__mrn")
    def patient_mrn(self, draw: Draw) -> str:
        return draw.patient.mrn


class VariantInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Variant
    fields = ("gene", "protein_change", "short", "vaf_percent", "esr1_activating", "esr1_vus")
    extra = 0


@admin.register(Result)
class ResultAdmin(LogsAdminReads, ReadOnlyAdminMixin, admin.ModelAdmin):
    read_action = "admin:result"
    list_display = (
        "id",
        "draw_id",
        "patient_mrn",
        "collected_on",
        "reported_on",
        "status",
        "esr1_status",
    )
    list_filter = ("status", "esr1_status")
    search_fields = ("draw__accession", "draw__patient__mrn", "variants__short")
    list_select_related = ("draw__patient",)
    date_hierarchy = "reported_on"
    ordering = ("-id",)
    inlines = (VariantInline,)

    @admin.display(description="MRN", ordering="draw__patient__mrn")
    def patient_mrn(self, result: Result) -> str:
        return result.draw.patient.mrn

    @admin.display(description="collected", ordering="draw__collected_on")
    def collected_on(self, result: Result):
        return result.draw.collected_on


# --------------------------------------------------------------------------------------------
# Alerts and the surveillance policy (added with the engine)
# --------------------------------------------------------------------------------------------


@admin.register(Alert)
class AlertAdmin(LogsAdminReads, ReadOnlyAdminMixin, admin.ModelAdmin):
    read_action = "admin:alert"
    list_display = ("id", "kind", "severity", "status", "patient_mrn", "title", "created_at",
                    "decision", "resolved_by")  # fmt: skip
    list_filter = ("status", "kind", "severity", "decision")
    search_fields = ("patient__mrn", "title")
    list_select_related = ("patient", "resolved_by")
    date_hierarchy = "created_at"

    @admin.display(description="MRN", ordering="patient__mrn")
    def patient_mrn(self, alert: Alert) -> str:
        return alert.patient.mrn


@admin.register(SurveillancePolicy)
class SurveillancePolicyAdmin(admin.ModelAdmin):
    """Admins edit the numbers of SPEC section 5. A save never changes a version in place: it
    stores a new version, which is then the one in force (and recorded on new alerts)."""

    list_display = ("version", "created_at", "created_by", "interval_high_risk_days",
                    "interval_standard_risk_days", "first_draw_after_days", "switch_scan_days",
                    "note")  # fmt: skip
    readonly_fields = ("version", "created_at", "created_by")
    ordering = ("-version",)

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            latest = SurveillancePolicy.objects.select_for_update().order_by("-version").first()
            obj.pk = None
            obj.version = (latest.version if latest else 0) + 1
            obj.created_by = request.user
            obj._state.adding = True
            obj.save()

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        latest = SurveillancePolicy.objects.order_by("-version").first()
        if latest is None:
            return {}
        return {f.name: getattr(latest, f.name) for f in SurveillancePolicy._meta.fields
                if f.name not in ("id", "version", "created_at", "created_by", "note")}  # fmt: skip


@admin.register(AssayProfile)
class AssayProfileAdmin(admin.ModelAdmin):
    """One row per assay code, made by a migration; admins enter the limit of reliable
    detection the laboratory has validated, and mark it confirmed. The pages warn when an
    ESR1 finding lies below it."""

    list_display = ("name", "code", "limit_of_detection_pct", "limit_confirmed", "updated_at")
    fields = ("code", "name", "limit_of_detection_pct", "limit_confirmed", "updated_at")
    readonly_fields = ("code", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

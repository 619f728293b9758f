"""Django admin for the surveillance app.

Clinical rows (draws, results) are shown read-only to everyone: they are written through
surveillance.services, which validates, audits and queues re-evaluation, and the admin
would bypass all three. Administrators hold no view permission on them (accounts/roles.py),
so in practice only a superuser sees these pages, for support.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from patients.access_log import LogsAdminReads
from surveillance.models import (
    Alert,
    AssayProfile,
    Draw,
    Result,
    SurveillancePolicy,
    Variant,
)
from surveillance.services.policy import (
    POLICY_FIELDS,
    policy_changes,
    policy_problems,
    policy_save,
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


class SurveillancePolicyForm(forms.ModelForm):
    """The numbers, each checked against its range (surveillance.services.policy) so a slip
    shows as an error beside the field instead of reaching the engine."""

    class Meta:
        model = SurveillancePolicy
        fields = (*POLICY_FIELDS, "note")

    def clean(self):
        cleaned = super().clean()
        try:
            policy_problems(cleaned).raise_if_any()
        except ValidationError as problems:
            for field, messages in problems.error_dict.items():
                if field not in self.errors:  # else its own check already said what is wrong
                    for message in messages:
                        self.add_error(field, message)
        return cleaned


@admin.register(SurveillancePolicy)
class SurveillancePolicyAdmin(admin.ModelAdmin):
    """Admins edit the numbers of SPEC section 5. A save never changes a version in place: it
    stores a new version (surveillance.services.policy_save), which is then the one in force
    and is applied to every patient by a full run queued on commit. Each version shows what
    changed from the one before it."""

    form = SurveillancePolicyForm
    list_display = ("version", "created_at", "created_by", "interval_high_risk_days",
                    "interval_standard_risk_days", "first_draw_after_days", "switch_scan_days",
                    "changes", "note")  # fmt: skip
    readonly_fields = ("version", "created_at", "created_by", "changes")
    ordering = ("-version",)

    def get_fields(self, request, obj=None):
        head = ("version", "created_at", "created_by", "changes") if obj else ()
        return (*head, *POLICY_FIELDS, "note")

    @admin.display(description="changed from the version before")
    def changes(self, policy: SurveillancePolicy) -> str:
        previous = (
            SurveillancePolicy.objects.filter(version__lt=policy.version)
            .order_by("-version")
            .first()
        )
        if previous is None:
            return "first version"
        changed = policy_changes(policy, previous)
        if not changed:
            return "no number changed"
        return "; ".join(
            f"{SurveillancePolicy._meta.get_field(field).verbose_name}: {old} \u2192 {new}"
            for field, old, new in changed
        )

    def save_model(self, request, obj, form, change):
        saved = policy_save(
            actor=request.user,
            values={field: form.cleaned_data[field] for field in POLICY_FIELDS},
            note=form.cleaned_data.get("note", ""),
        )
        # The admin's messages and redirect name the version just stored.
        obj.pk, obj.version, obj.created_at, obj.created_by = (
            saved.pk, saved.version, saved.created_at, saved.created_by,
        )  # fmt: skip

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        latest = SurveillancePolicy.objects.order_by("-version").first()
        if latest is None:
            return {}
        return {field: getattr(latest, field) for field in POLICY_FIELDS}


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

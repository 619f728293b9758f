"""The audit viewer in the Django admin: the change history and the record-access log.

Administrators (SPEC section 1: "read the audit log") filter both by user, patient and date
and download what they filtered as CSV. They see who did what to which record (model, record
id, the names of the fields changed, user, time), never the values: administrators have no
clinical access, and the history rows hold names, birth dates, MRNs, variants and notes.
Reading either list or exporting it is itself logged (patients.models.AuditTrailRead).
Nobody adds, changes or deletes an audit row here, superusers included; the tables refuse
UPDATE and DELETE (patients/audit.py, PatientAccess.Meta.triggers), and the application's
database role may not (config/dbroles.py).

The change history is pghistory's aggregate `Events` admin (installed by
PGHISTORY_ADMIN_CLASS), extended with the filters and the export.
"""

import datetime

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from pghistory import core as pghistory_core
from pghistory.admin import EventsAdmin

from config.csv_export import csv_response
from patients.access_log import log_audit_read
from patients.models import Patient


class AuditFilter(admin.ListFilter):
    """One form in the filter sidebar: user (username), patient (MRN or id), from, to.

    The admin using it implements `filter_audit(request, queryset, **criteria)`; an
    unknown user or patient shows nothing and says why, rather than everything.
    """

    title = "user, patient and date"
    template = "admin/audit_filter.html"
    parameters = ("user", "patient", "from", "to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.model_admin = model_admin
        for name in self.parameters:
            if name in params:
                value = params.pop(name)[-1].strip()
                if value:
                    self.used_parameters[name] = value

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def choices(self, changelist):
        keep = [
            (name, value)
            for name, values in changelist.filter_params.items()
            if name not in self.parameters
            for value in values
        ]
        yield {"values": self.used_parameters, "keep": keep}

    def queryset(self, request, queryset):
        if not self.used_parameters:
            return queryset
        criteria = {
            "username": self.used_parameters.get("user", ""),
            "patient": self.used_parameters.get("patient", ""),
            "since": _day(request, self.used_parameters.get("from"), "from"),
            "until": _day(request, self.used_parameters.get("to"), "to"),
        }
        return self.model_admin.filter_audit(request, queryset, **criteria)


def _day(request, value: str | None, label: str) -> datetime.date | None:
    if not value:
        return None
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        messages.warning(request, f"'{value}' is not a date ({label}); use YYYY-MM-DD.")
    return day


def day_range(since, until) -> dict[str, datetime.datetime]:
    """Lookups from the start of day `since` to the end of day `until`, in the clinic's
    zone: {"gte": ..., "lt": ...}, either may be missing."""

    def start_of(day):
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

    bounds = {}
    if since:
        bounds["gte"] = start_of(since)
    if until:
        bounds["lt"] = start_of(until + datetime.timedelta(days=1))
    return bounds


def find_user_id(request, username: str) -> int | None:
    user = get_user_model().objects.filter(username__iexact=username).first()
    if user is None:
        messages.warning(request, f"No user is called '{username}'.")
        return None
    return user.pk


def find_patient_id(request, value: str) -> int | None:
    """A patient by MRN (one found only in the history is a deleted patient), else by id:
    `#123` or, when no MRN matches, plain digits."""
    (patient_event,) = pghistory_core.event_models(tracks_model=Patient)
    if value.startswith("#") and value[1:].isdigit():
        return int(value[1:])
    patient_id = Patient.objects.filter(mrn__iexact=value).values_list("pk", flat=True).first()
    if patient_id is None:
        history = patient_event.objects.filter(mrn__iexact=value).order_by("-pgh_id")
        patient_id = history.values_list("pgh_obj_id", flat=True).first()
    if patient_id is None and value.isdigit():
        patient_id = int(value)
    if patient_id is None:
        messages.warning(request, f"No patient has the MRN or id '{value}'.")
    return patient_id


class CsvExportMixin:
    """An "Export CSV" link on the change list that downloads exactly the filtered rows.

    The admin defines `csv_header` and `csv_row(obj)`. Viewing the list and exporting it are
    logged as reads of the audit trail, named after `csv_filename`.
    """

    change_list_template = "admin/audit_change_list.html"
    csv_filename = "export"
    csv_header: list[str] = []

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, extra_context=self.export_context(request))

    def export_context(self, request, extra_context=None) -> dict:
        if request.method == "GET":
            log_audit_read(request, view=self.csv_filename)
        extra_context = extra_context or {}
        # Our template adds the link to whichever change list the admin had.
        base = super().change_list_template or "admin/change_list.html"
        extra_context.setdefault("change_list_base", base)
        query = request.GET.copy()
        query.pop("p", None)
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_export",
            current_app=self.admin_site.name,
        )
        extra_context["csv_export_url"] = f"{url}?{query.urlencode()}" if query else url
        return extra_context

    def export_csv_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        log_audit_read(request, view=f"{self.csv_filename}:export")
        rows = (self.csv_row(obj) for obj in changelist.get_queryset(request).iterator(2000))
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return csv_response(f"{self.csv_filename}-{stamp}.csv", self.csv_header, rows)

    def csv_row(self, obj) -> list:
        raise NotImplementedError


def _event_object_ids(patient_id: int) -> dict[str, list[str]]:
    """For each event model, the ids of the rows it tracks that belong to the patient.

    Read from the history tables themselves, so rows deleted since still count: the patient,
    rows with a foreign key to the patient (treatments, draws, alerts...), and rows that
    reach the patient through another tracked row (a result through its draw, a variant
    through its result).
    """
    memo: dict[type, list | None] = {Patient: [patient_id]}

    def ids_for(tracked_model) -> list | None:
        if tracked_model in memo:
            return memo[tracked_model]
        memo[tracked_model] = None  # not about a patient, unless a foreign key says so
        for event_model in pghistory_core.event_models(tracks_model=tracked_model):
            for field in event_model._meta.fields:
                if not field.is_relation or field.name in ("pgh_obj", "pgh_context"):
                    continue
                if not pghistory_core.event_models(tracks_model=field.related_model):
                    continue  # an untracked model (users, drugs) leads to no patient
                parent_ids = ids_for(field.related_model)
                if parent_ids is None:
                    continue
                rows = event_model.objects.filter(**{f"{field.attname}__in": parent_ids})
                memo[tracked_model] = sorted(set(rows.values_list("pgh_obj_id", flat=True)))
                return memo[tracked_model]
        return None

    found = {}
    for event_model in pghistory_core.event_models():
        ids = ids_for(event_model.pgh_tracked_model)
        if ids:
            found[event_model._meta.label] = [str(i) for i in ids]
    return found


class ChangeHistoryAdmin(CsvExportMixin, EventsAdmin):
    """Every insert, update and delete of a tracked (clinical, policy or account) row: who,
    when, which record and which fields, never the values (no link to an event's data)."""

    csv_filename = "change-history"
    csv_header = ["at", "user", "source", "event", "model", "object_id", "changed_fields"]
    list_display = ("when", "who", "label", "record", "record_id", "changed_fields")
    list_display_links = None
    show_facets = admin.ShowFacets.NEVER
    # Counting the whole history for "N total" is as costly as listing it.
    show_full_result_count = False

    def get_list_display(self, request):
        return self.list_display

    def has_view_permission(self, request, obj=None):
        # The list only: an event's own page would show the row's values.
        return obj is None and super().has_view_permission(request)

    def changelist_view(self, request, extra_context=None):
        # Not pghistory's own: for `?obj=` it titles the page with the record itself (a
        # patient's name). Here the record is named by model and id only.
        context = self.export_context(request, extra_context)
        context["title"] = "Change history"
        return admin.ModelAdmin.changelist_view(self, request, extra_context=context)

    def get_list_filter(self, request):
        return [AuditFilter, *super().get_list_filter(request)]

    def get_queryset(self, request):
        username = (
            get_user_model()
            .objects.filter(pk=Cast(KeyTextTransform("user", OuterRef("pgh_context")),
                                    BigIntegerField()))
            .values("username")
        )  # fmt: skip
        return super().get_queryset(request).annotate(username=Subquery(username[:1]))

    def filter_audit(self, request, queryset, *, username, patient, since, until):
        if username:
            user_id = find_user_id(request, username)
            if user_id is None:
                return queryset.none()
            queryset = queryset.filter(pgh_context__user=user_id)
        if patient:
            patient_id = find_patient_id(request, patient)
            if patient_id is None:
                return queryset.none()
            scope = Q()
            for label, ids in _event_object_ids(patient_id).items():
                scope |= Q(pgh_model=label, pgh_obj_id__in=ids)
            queryset = queryset.filter(scope) if scope else queryset.none()
        for lookup, instant in day_range(since, until).items():
            queryset = queryset.filter(**{f"pgh_created_at__{lookup}": instant})
        return queryset

    @admin.display(description="when", ordering="pgh_created_at")
    def when(self, event):
        return event.pgh_created_at

    @admin.display(description="user")
    def who(self, event) -> str:
        if event.username:
            return event.username
        source = (event.pgh_context or {}).get("source")
        return f"system ({source})" if source else "system"

    @admin.display(description="event", ordering="pgh_label")
    def label(self, event) -> str:
        return event.pgh_label

    @admin.display(description="record", ordering="pgh_obj_model")
    def record(self, event) -> str:
        return event.pgh_obj_model

    @admin.display(description="id")
    def record_id(self, event) -> str:
        return event.pgh_obj_id

    @admin.display(description="fields changed")
    def changed_fields(self, event) -> str:
        return ", ".join(changed_field_names(event))

    def csv_row(self, event) -> list:
        context = event.pgh_context or {}
        return [
            timezone.localtime(event.pgh_created_at).isoformat(),
            event.username or "",
            context.get("source", ""),
            event.pgh_label,
            event.pgh_obj_model,
            event.pgh_obj_id,
            " ".join(changed_field_names(event)),
        ]


def changed_field_names(event) -> list[str]:
    """The names of the fields an update changed (none for an insert or a delete: the label
    says which). Only the names: the values are clinical data."""
    return sorted((event.pgh_diff or {}).keys())

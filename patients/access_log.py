"""Every read of patient data is logged here, one row per patient and request (SPEC section 1).

Two doors, one writer:

- `LogsPatientReads`, a mixin for every DRF view that renders clinical records (patients,
  treatments, assessments, appointments, draws, results, alerts, the worklist). It notes what
  each GET hands to its serializer and, once the answer is a success, writes one row per
  patient in one INSERT. A new clinical endpoint gets the log by inheriting the mixin.
- `log_page_reads(request, patients, action=...)` for pages, forms opened with GET, exports and
  other reads that are not a DRF view.

Both end in `log_reads`: one `INSERT ... SELECT ... FROM unnest(<the patients' ids>)`
whatever the number of patients, so a page of 25 patients costs what a page of one does. The
rows name the user, the patient, what was read (`view`, e.g. `api:draw_list`,
`page:patient_list`) and the path without its query string (a search for a name or MRN never
lands in the log).
"""

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

from patients.models import AuditTrailRead, Patient, PatientAccess

SAFE_READS = ("GET", "HEAD")


def _patient_id(obj) -> int | None:
    if isinstance(obj, Patient):
        return obj.pk
    if isinstance(obj, int):
        return obj
    patient_id = getattr(obj, "patient_id", None)
    if patient_id is None and getattr(obj, "draw", None) is not None:
        patient_id = obj.draw.patient_id  # a result belongs to its draw's patient
    return patient_id


def patient_ids_of(objects: Iterable) -> list[int]:
    """The distinct patients behind records (patients, rows with `patient_id`, results through
    their draw, or plain ids), in order."""
    ids = {_patient_id(obj) for obj in objects}
    ids.discard(None)
    return sorted(ids)


def _insert_sql() -> str:
    """INSERT of one row per id in an array, the other columns the same for every row; the
    table and column names from the model."""
    opts, quote = PatientAccess._meta, connection.ops.quote_name
    user, patient, at, view, path = (
        quote(opts.get_field(name).column) for name in ("user", "patient", "at", "view", "path")
    )
    # Names from the model, quoted; every value is a bound parameter.
    return (
        f"INSERT INTO {quote(opts.db_table)} ({user}, {patient}, {at}, {view}, {path}) "  # noqa: S608
        "SELECT %s, patient_id, %s, %s, %s FROM unnest(%s::bigint[]) AS patient_id"
    )


def log_reads(*, user, patients: Iterable, action: str, path: str = "") -> int:
    """One access row per distinct patient in `patients`, in one INSERT; returns how many.

    The rows differ only by patient, so the statement carries the ids as one array: a page
    of 125 patients (the nurses' worklist) costs what a page of one does, without building
    125 model instances for bulk_create (10 ms of a 60 ms page)."""
    ids = patient_ids_of(patients)
    if not ids or not getattr(user, "is_authenticated", False):
        return 0
    path = path[: PatientAccess._meta.get_field("path").max_length]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), [user.pk, timezone.now(), action, path, ids])
    return len(ids)


def log_page_reads(request, patients: Iterable, *, action: str) -> int:
    """The page helper: log `patients` as read by this request's user at this request's path
    (GET and HEAD only: a POST's answer shows what the user just wrote, which the change
    history already holds)."""
    if request.method not in SAFE_READS:
        return 0
    return log_reads(user=request.user, patients=patients, action=action, path=request.path)


class LogsPatientReads:
    """For DRF views: whatever a successful GET renders through `get_serializer` is logged,
    one row per patient, in one INSERT after the view has answered. `read_action` names the
    read (default `api:<basename>_<list|detail|action>`); a view that renders records without
    `get_serializer` calls `self.note_reads(objects)`."""

    read_action: str | None = None

    def initial(self, request, *args, **kwargs):
        self._read_records: list = []
        super().initial(request, *args, **kwargs)

    def note_reads(self, objects) -> None:
        if isinstance(objects, Patient) or not isinstance(objects, Iterable):
            objects = [objects]
        self._read_records.append(objects)

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        if args and args[0] is not None and self.request.method in SAFE_READS:
            self.note_reads(args[0])
        return serializer

    def access_action(self) -> str:
        if self.read_action:
            return self.read_action
        name = getattr(self, "basename", None) or type(self).__name__.lower()
        kind = getattr(self, "action", None) or "list"
        kind = {"retrieve": "detail"}.get(kind, kind)
        return f"api:{name}_{kind}"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        records = getattr(self, "_read_records", None)
        if records and request.method in SAFE_READS and 200 <= response.status_code < 300:
            # The serializer has iterated each queryset already: no second query.
            objects = [obj for group in records for obj in group]
            log_reads(
                user=request.user, patients=objects, action=self.access_action(), path=request.path
            )
        return response


def log_audit_read(request, *, view: str) -> None:
    """An administrator read or exported the audit trail (the change history or this log):
    who, when, where and with which filters. The filters name users, MRNs and dates, never a
    clinical value."""
    AuditTrailRead.objects.create(
        user=request.user,
        view=view,
        path=request.path[:200],
        query=request.META.get("QUERY_STRING", "")[:500],
    )


class LogsAdminReads:
    """A clinical change list or page opened in the admin (a superuser's break-glass look)
    is logged like any other read: one row per patient shown."""

    read_action = "admin:record"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if response.status_code == 200 and changelist is not None:
            log_page_reads(request, changelist.result_list, action=f"{self.read_action}_list")
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        record = self.get_object(request, object_id)
        if record is not None and response.status_code == 200:
            log_page_reads(request, [record], action=self.read_action)
        return response

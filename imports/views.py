"""Pages: the nurses' inbox of laboratory messages, one message with its raw text and the
match/reject forms, and the CSV upload with its preview. The same selectors and services as
the API."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from accounts.decorators import role_required
from accounts.roles import Action, require
from config.errors import Conflict
from imports.inbox import import_match, import_preview, import_reject
from imports.models import Channel, Format, ImportReport, State
from imports.parsers import ParseError
from imports.selectors import import_messages_for, log_import_reads
from imports.services import MessageTooLarge, Unreadable, import_message
from patients.models import Patient
from surveillance.models import Draw, DrawStatus

STATE_TABS = [(State.UNMATCHED, "Waiting"), ("", "All")]


@require_safe
@role_required(Action.VIEW_CLINICAL)
def inbox(request):
    state = request.GET.get("state", State.UNMATCHED)
    page = Paginator(import_messages_for(request.user, state=state or None), 25).get_page(
        request.GET.get("page")
    )
    log_import_reads(user=request.user, messages=page)
    return render(
        request,
        "imports/inbox.html",
        {"page": page, "state": state, "tabs": STATE_TABS, "states": State},
    )


@require_http_methods(["GET", "POST"])
@role_required(Action.VIEW_CLINICAL)
def message_detail(request, message_id: int):
    message = get_object_or_404(import_messages_for(request.user), pk=message_id)
    error = None
    if request.method == "POST":
        report = get_object_or_404(message.reports.all(), pk=request.POST.get("report"))
        try:
            _settle(request, report)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except Conflict as exc:
            error = exc.detail
        else:
            return redirect("import-detail", message_id=message.pk)
    log_import_reads(user=request.user, messages=[message])
    chosen = _chosen_patient(request)
    return render(
        request,
        "imports/message.html",
        {
            "message": message,
            "reports": list(message.reports.all()),
            "error": error,
            "chosen": chosen,
            "chosen_draws": _open_draws(chosen),
            "mrn_query": request.GET.get("mrn", ""),
        },
        status=400 if error else 200,
    )


def _settle(request, report: ImportReport) -> None:
    if "reject" in request.POST:
        import_reject(actor=request.user, report=report, reason=request.POST.get("reason", ""))
        messages.success(request, "Report rejected.")
        return
    patient = get_object_or_404(Patient, pk=request.POST.get("patient"))
    draw_id = request.POST.get("draw") or None
    draw = get_object_or_404(Draw, pk=draw_id, patient=patient) if draw_id else None
    settled = import_match(actor=request.user, report=report, patient=patient, draw=draw)
    messages.success(
        request,
        f"Report recorded on draw {settled.draw_id} of {patient} as result {settled.result_id}.",
    )


def _chosen_patient(request) -> Patient | None:
    mrn = (request.GET.get("mrn") or "").strip()
    return Patient.objects.filter(mrn=mrn).first() if mrn else None


def _open_draws(patient: Patient | None) -> list[Draw]:
    if patient is None:
        return []
    return list(
        Draw.objects.filter(patient=patient, status=DrawStatus.COLLECTED).order_by("-collected_on")
    )


@require_http_methods(["GET", "POST"])
@role_required(Action.IMPORT_REPORTS)
def upload(request):
    """A CSV batch: first a preview of what each report will do, then the import."""
    # The preview names patients and draws: for those who may read the records.
    require(request.user, Action.VIEW_CLINICAL)
    content, preview, error = "", None, None
    if request.method == "POST":
        content = _uploaded_text(request)
        try:
            if "confirm" in request.POST:
                message = import_message(
                    actor=request.user, fmt=Format.CSV, raw=content, channel=Channel.UPLOAD
                )
                messages.success(request, f"Batch imported: {message.reason or message.state}.")
                return redirect("import-detail", message_id=message.pk)
            preview = import_preview(actor=request.user, fmt=Format.CSV, raw=content)
        except (ParseError, MessageTooLarge) as exc:
            error = str(exc)
        except Unreadable as exc:
            error = exc.message.reason
    return render(
        request,
        "imports/upload.html",
        {"content": content, "preview": preview, "error": error},
        status=400 if error else 200,
    )


def _uploaded_text(request) -> str:
    upload = request.FILES.get("file")
    if upload is not None:
        raw = upload.read()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return request.POST.get("content", "")

"""Pages: the worklists, recording draws and results, resolving alerts. Each view parses
with a form, calls one selector or service (the same ones the API calls) and renders."""

import re
from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from accounts.decorators import role_required
from accounts.roles import Action, Role
from patients.access_log import log_page_reads
from patients.forms import apply_service_errors
from patients.models import clinic_today
from patients.selectors import patient_for_user, patients_visible_to
from surveillance import worklist_counts
from surveillance.forms import DrawForm, ResolveForm, ResultForm, VariantFormSet
from surveillance.models import ESR1_KINDS, Alert, AlertStatus, Draw, DrawStatus
from surveillance.rules import format_vaf
from surveillance.selectors import (
    alert_readings,
    alert_rows,
    alerts_visible_to,
    draw_rows,
    last_scans,
    switch_scan_days,
    worklist_for,
)
from surveillance.services import (
    DuplicateDraw,
    StaleEvidence,
    alert_resolve,
    allowed_decisions,
    draw_record,
    may_resolve,
    result_record,
)

VARIANTS = "variants"  # the variant rows' formset prefix, and the service's field name
_ROW_FIELD = re.compile(rf"{VARIANTS}-(\d+)-")


@require_safe
@login_required
def home(request):
    user = request.user
    today = clinic_today()
    context = {"today": today}
    if user.role == Role.ONCOLOGIST:
        work = worklist_for(user=user, today=today)
        context.update(_oncologist_sections(work.alerts, today))
        log_page_reads(
            request, context["esr1_alerts"] + context["other_alerts"], action="page:home"
        )
        template = "surveillance/home_oncologist.html"
    elif user.role == Role.NURSE:
        work = worklist_for(user=user, today=today)
        sections = work.sections()
        counts = worklist_counts.section_counts(user=user, today=today, sections=sections)
        pages = _paged_sections(request, sections, counts)
        context.update(pages)
        rows = [row for page in pages.values() for row in page.object_list]
        log_page_reads(request, rows, action="page:home")
        template = "surveillance/home_nurse.html"
    else:
        template = "surveillance/home_admin.html"
    return render(request, template, context)


def _oncologist_sections(alerts, today: date) -> dict:
    """The oncologist's worklist in the order given, as two tables: ESR1 alerts (with their
    first sentence and the days since the result) and everything else."""
    alerts = list(alerts)
    esr1 = [a for a in alerts if a.kind in ESR1_KINDS]
    other = [a for a in alerts if a.kind not in ESR1_KINDS]
    for alert in other:
        # The row shows the rationale itself. Set, not missing: the template engine answers
        # a missing attribute with a dir() of the model, per row.
        alert.summary = None
        alert.last_scan = None
    # The rows show the rationale's first sentence, which names no drug: no drug notes here.
    readings = alert_readings(esr1, drug_notes=False)
    scans = last_scans(patient_ids=[a.patient_id for a in esr1], today=today)
    for alert in esr1:
        reported = (alert.evidence.get("dates") or {}).get("latest_reported_on")
        alert.days_since_result = (today - date.fromisoformat(reported)).days if reported else None
        alert.summary = alert.rationale.split(". ")[0] + "."
        alert.reading = readings.get(alert.id)
        alert.last_scan = scans[alert.patient_id]
    return {"esr1_alerts": esr1, "other_alerts": other}


# A clinic-wide list can run to thousands of rows (a regional network's overdue draws): each
# section of the nurses' worklist shows a page of its most urgent rows, its total, and links
# to the next page of that section alone.
WORKLIST_SECTION_ROWS = 25


class _CountedPaginator(Paginator):
    """A Paginator told its total (surveillance.worklist_counts) instead of counting."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._count = count

    @property
    def count(self) -> int:
        return self._count


def _paged_sections(request, sections: dict, counts: dict) -> dict:
    pages = {}
    for name, queryset in sections.items():
        paginator = _CountedPaginator(queryset, WORKLIST_SECTION_ROWS, count=counts[name])
        page = paginator.get_page(request.GET.get(name))
        # The page's rows as the columns they show, worded once (not model instances).
        rows = alert_rows if name == "alerts" else draw_rows
        page.object_list = rows(page.object_list)
        others = request.GET.copy()
        others.pop(name, None)
        page.param, page.others = name, others.urlencode()
        pages[name] = page
    return pages


@require_http_methods(["GET", "POST"])
@role_required(Action.RECORD_DRAW)
def draw_create(request, patient_id: int):
    patient = patient_for_user(request.user, patient_id)
    planned = Draw.objects.filter(patient=patient, status=DrawStatus.PLANNED).first()
    form = DrawForm(request.POST or None, initial={"collected_on": clinic_today()})
    duplicate = None
    if request.method == "POST" and form.is_valid():
        try:
            draw = draw_record(actor=request.user, patient=patient, **form.cleaned_data)
        except DuplicateDraw as exc:
            # Most often the same form sent twice: show the draw that already records it.
            duplicate = exc.draw
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Blood draw recorded (collected {draw.collected_on}).")
            return redirect("patient-detail", patient_id=patient.id)
    log_page_reads(request, [patient], action="page:draw_form")
    return render(
        request,
        "surveillance/draw_form.html",
        {"form": form, "patient": patient, "planned": planned, "duplicate": duplicate},
        status=409 if duplicate else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Action.RECORD_RESULT)
def result_create(request, draw_id: int):
    draw = get_object_or_404(
        Draw.objects.select_related("patient"),
        pk=draw_id,
        patient__in=patients_visible_to(request.user),
    )
    if request.method == "GET":
        form = ResultForm(initial={"reported_on": clinic_today()})
        return _result_page(request, draw, form, VariantFormSet(prefix=VARIANTS))
    data, rows_problem = _with_readable_rows(request.POST)
    if "add_row" in data:
        # Without JavaScript: redisplay with one more empty row.
        count = VariantFormSet(data, prefix=VARIANTS).total_form_count()
        data[f"{VARIANTS}-TOTAL_FORMS"] = str(count + 1)
    form, formset = ResultForm(data), VariantFormSet(data, prefix=VARIANTS)
    if rows_problem:
        form.is_valid()  # show every other problem too
        return _result_page(request, draw, form, formset, [rows_problem])
    if "add_row" in data or not (form.is_valid() and formset.is_valid()):
        return _result_page(request, draw, form, formset)
    rows = [f.cleaned_data for f in formset.forms if not f.is_blank()]
    try:
        result_record(actor=request.user, draw=draw, variants=rows, **form.cleaned_data)
    except ValidationError as exc:
        variant_errors = apply_service_errors(form, exc, formsets={VARIANTS: formset})
        return _result_page(request, draw, form, formset, variant_errors)
    messages.success(request, "Result recorded; the surveillance check runs now.")
    return redirect("patient-detail", patient_id=draw.patient_id)


def _with_readable_rows(post) -> tuple[QueryDict, str | None]:
    """The posted result form, and a message when its count of variant rows (the formset's
    management form) is missing or not a count. The rows are then counted from the fields
    that did arrive, so nothing typed is lost, and nothing is saved until the page has been
    seen again."""
    data = post.copy()
    management = VariantFormSet(data, prefix=VARIANTS).management_form
    if management.is_valid() and management.cleaned_data["TOTAL_FORMS"] >= 0:
        return data, None
    indexes = [int(match[1]) for key in data if (match := _ROW_FIELD.match(key))]
    count = min(max(indexes, default=0) + 1, VariantFormSet.max_num)
    data[f"{VARIANTS}-TOTAL_FORMS"], data[f"{VARIANTS}-INITIAL_FORMS"] = str(count), "0"
    return data, (
        "The list of variant rows did not arrive complete, so nothing was saved. "
        "Check the variants below and save again."
    )


def _result_page(request, draw, form, formset, variant_errors=()):
    log_page_reads(request, [draw.patient_id], action="page:result_form")
    return render(
        request,
        "surveillance/result_form.html",
        {"form": form, "formset": formset, "draw": draw, "patient": draw.patient,
         "variant_errors": list(variant_errors)},
    )  # fmt: skip


@require_GET
@role_required(Action.RECORD_RESULT)
def variant_row(request):
    """htmx: one more empty variant row, and the formset's updated row count."""
    try:
        index = max(0, min(int(request.GET.get("index", "1")), 29))
    except ValueError:
        index = 1
    formset = VariantFormSet(prefix=VARIANTS)
    return render(
        request,
        "surveillance/_variant_row.html",
        {"row": formset.empty_form, "index": index, "next_index": index + 1, "oob": True},
    )


@require_http_methods(["GET", "POST"])
@role_required(Action.VIEW_CLINICAL)
def alert_resolve_view(request, alert_id: int):
    alert = get_object_or_404(alerts_visible_to(request.user), pk=alert_id)
    if not may_resolve(request.user, alert):
        raise PermissionDenied("Only an oncologist may decide on an ESR1 alert.")
    if alert.status != AlertStatus.OPEN:
        messages.info(request, "This alert has already been resolved.")
        return redirect("patient-detail", patient_id=alert.patient_id)
    decisions = allowed_decisions(alert)
    form = ResolveForm(request.POST or None, initial=_seen(alert), decisions=decisions)
    changes = None
    if request.method == "POST" and form.is_valid():
        try:
            alert_resolve(actor=request.user, alert=alert, **form.service_data())
        except StaleEvidence:
            # Nothing was saved. Show what changed and ask again, on the current version;
            # what was typed stays, the decision itself is chosen again.
            alert = get_object_or_404(alerts_visible_to(request.user), pk=alert_id)
            changes = EvidenceChanges.between(
                alert,
                seen_version=form.cleaned_data["evidence_version"],
                seen_result_ids=form.cleaned_data["seen_results"],
            )
            entered = {k: v for k, v in form.cleaned_data.items() if k != "decision"}
            form = ResolveForm(initial=entered | _seen(alert), decisions=decisions)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Decision recorded: {alert.get_kind_display()} resolved.")
            return redirect("patient-detail", patient_id=alert.patient_id)
    esr1 = alert.kind in ESR1_KINDS
    last_scan = None
    if esr1:
        last_scan = last_scans(patient_ids=[alert.patient_id], today=clinic_today())
    log_page_reads(request, [alert.patient_id], action="page:resolve_form")
    return render(
        request,
        "surveillance/resolve_form.html",
        {
            "form": form,
            "alert": alert,
            "patient": alert.patient,
            "esr1": esr1,
            "changes": changes,
            "evidence_rows": _evidence_rows(alert, new=changes.added_ids if changes else ()),
            "last_scan": last_scan[alert.patient_id] if last_scan else None,
            "switch_scan_days": switch_scan_days() if esr1 else None,
        },
        status=409 if changes else 200,
    )


def _evidence_result_ids(alert: Alert) -> list[int]:
    return [int(i) for i in (alert.evidence or {}).get("result_ids") or []]


def _seen(alert: Alert) -> dict:
    """The hidden fields of the decision form: the evidence the page shows."""
    return {
        "evidence_version": alert.evidence_version,
        "seen_results": ",".join(str(i) for i in _evidence_result_ids(alert)),
    }


def _evidence_rows(alert: Alert, *, new=()) -> list[dict]:
    return [
        {**row, "new": row.get("result_id") in new}
        for row in (alert.evidence or {}).get("variants") or []
    ]


@dataclass(frozen=True)
class EvidenceChanges:
    """What changed in an alert's evidence since the decision form was opened: the results
    added and dropped, judged from the result ids the form was rendered with (None: the form
    did not say, and only the versions can be told)."""

    seen_version: int
    current_version: int
    added: tuple[str, ...]
    added_ids: frozenset[int]
    removed_ids: tuple[int, ...]
    known: bool

    @classmethod
    def between(cls, alert: Alert, *, seen_version: int, seen_result_ids) -> "EvidenceChanges":
        current = _evidence_result_ids(alert)
        if seen_result_ids is None:
            return cls(seen_version, alert.evidence_version, (), frozenset(), (), known=False)
        seen = set(seen_result_ids)
        added_ids = [i for i in current if i not in seen]
        rows = (alert.evidence or {}).get("variants") or []
        added = tuple(_result_sentence(rid, [r for r in rows if r.get("result_id") == rid])
                      for rid in added_ids)  # fmt: skip
        removed = tuple(sorted(seen - set(current)))
        return cls(seen_version, alert.evidence_version, added, frozenset(added_ids), removed,
                   known=True)  # fmt: skip


def _vaf(value) -> str:
    return f"{format_vaf(value)}%" if value is not None else "(VAF not reported)"


def _result_sentence(result_id: int, rows: list[dict]) -> str:
    """The line for one result added to the evidence, e.g.
    `Result #41, collected 2026-11-20: ESR1 D538G 1.2%, Y537S 0.4%`."""
    collected = rows[0].get("collected_on") if rows else None
    where = f"Result #{result_id}" + (f", collected {collected}" if collected else "")
    if not rows:
        return f"{where}: ESR1 mutation detected"
    found = ", ".join(f"{r.get('short')} {_vaf(r.get('vaf_percent'))}" for r in rows)
    return f"{where}: ESR1 {found}"

"""The patient list and the patient page: a record with its draws, results, alerts and picture."""

import hashlib
from urllib.parse import urlencode

from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from accounts.decorators import role_required
from accounts.models import User
from accounts.roles import Action, can
from chart.selectors import patient_list, patient_page
from chart.timeline_picture import (
    AssessmentMark,
    DrawMark,
    TimelineData,
    TreatmentBar,
    VariantPoint,
    render_timeline_svg,
)
from config.pagination import (
    InvalidCursor,
    KeysetPage,
    OnePassPaginator,
    PageByIdPaginator,
    encode_cursor,
    keyset_page,
)
from patients.access_log import log_page_reads
from patients.models import Treatment, clinic_today
from patients.selectors import patient_for_user, sees_every_patient
from surveillance import rules, scans, worklist_counts
from surveillance.engine import current_policy
from surveillance.selectors import alert_readings
from surveillance.services import may_resolve

PATIENTS_PER_PAGE = 25
PATIENT_ORDER = ("family_name", "given_name", "id")  # chart.selectors.patient_list's


@require_safe
@role_required(Action.VIEW_CLINICAL)
def patient_index(request):
    # NUL characters are dropped: Postgres text cannot hold them, and a search for one
    # fails in the database (a 500).
    filters = {
        key: request.GET.get(key, "").replace("\x00", "").strip()
        for key in ("search", "eligible", "risk", "oncologist", "open_alerts")
    }
    patients = patient_list(user=request.user, **filters)
    query = request.GET.copy()
    for key in ("page", "after", "before"):
        query.pop(key, None)
    after, before = request.GET.get("after"), request.GET.get("before")
    page = None
    if after or before:
        # Previous and Next are keyset links: a page deep in a long filtered list costs what
        # the first one does (config.pagination.keyset_page).
        try:
            page = keyset_page(
                patients, fields=PATIENT_ORDER, size=PATIENTS_PER_PAGE, after=after or None,
                before=None if after else before,
            )  # fmt: skip
        except InvalidCursor:
            page = None
    if page is None:
        # A search reads every match to count them: the count comes with the page's ids.
        paginator = OnePassPaginator if filters["search"] else PageByIdPaginator
        page = paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
        # From a numbered page, Next goes on by key too.
        rows = list(page.object_list)
        page.object_list = rows
        page.next_cursor = (
            encode_cursor(getattr(rows[-1], f) for f in PATIENT_ORDER)
            if rows and page.has_next()
            else None
        )
        page.previous_cursor = None
    log_page_reads(request, list(page), action="page:patient_list")
    return render(
        request,
        "chart/patient_list.html",
        {
            "page": page,
            "total": _total(request.user, filters, patients, page),
            "filters": filters,
            "query": query.urlencode(),
            "oncologist_options": _oncologist_options(selected=filters["oncologist"]),
        },
    )


def _oncologist_options(*, selected: str) -> str:
    """The oncologist filter's <option>s. Built here rather than in a template loop: a
    network has hundreds of oncologists, and their loop was 12 ms of every list page."""
    oncologists = User.objects.filter(role="oncologist", is_active=True).only(
        "username", "first_name", "last_name"
    )
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (onc.username, mark_safe(" selected") if onc.username == selected else "",
             onc.display_name)
            for onc in oncologists
        ),
    )  # fmt: skip


def _total(user, filters: dict, patients, page) -> int:
    """The list's total. A numbered page has counted it; a page reached by key shows the
    total kept for a minute (never older than the user's own last change), so a page deep in
    a long filtered list does not count 50,000 rows each time."""
    if not isinstance(page, KeysetPage):
        return page.paginator.count
    scope = "all" if sees_every_patient(user) else f"user-{user.pk}"
    # Hashed: a search's words (a name, an MRN) are not left in the cache's keys.
    wanted = hashlib.sha256(urlencode(sorted(filters.items())).encode()).hexdigest()
    key = f"patient-list:{scope}:{wanted}"
    return worklist_counts.kept_count(key, user=user, queryset=patients)


def numbered_draws(draws) -> list:
    """Draws in date order, numbered 1..n: the same number in the picture and the table."""
    dated = sorted(
        (d for d in draws if d.status != "cancelled"),
        key=lambda d: (d.collected_on or d.due_date, d.id),
    )
    for number, draw in enumerate(dated, start=1):
        draw.number = number
    return dated


def _as_rules_treatment(t: Treatment) -> rules.TreatmentIn:
    """A stored treatment as the rules read it (drugs by code), as the engine loads it."""
    return rules.TreatmentIn(
        t.id, t.line_number, t.setting, t.endocrine_therapy_id, t.cdk46_inhibitor_id,
        t.start_date, t.end_date, t.end_reason or None,
    )  # fmt: skip


def timeline_data(*, patient, data: dict, draws: list, today) -> TimelineData:
    bars = tuple(
        TreatmentBar(
            id=t.id,
            start=t.start_date,
            end=t.end_date,
            label=" + ".join(d.name for d in (t.endocrine_therapy, t.cdk46_inhibitor) if d),
            line_number=t.line_number,
            setting=t.setting,
            end_reason=t.end_reason,
            is_surveillance=rules.is_surveillance_regimen(_as_rules_treatment(t)),
        )  # fmt: skip
        for t in data["treatments"]
    )
    marks = tuple(
        AssessmentMark(id=a.id, on=a.date, modality=a.modality, response=a.response)
        for a in data["assessments"]
    )
    draw_marks = []
    for d in draws:
        result = getattr(d, "result", None) if d.status == "resulted" else None
        variants = ()
        if result is not None:
            variants = tuple(
                VariantPoint(
                    short=v.short,
                    # None (reported without a VAF) is drawn as a mark without a value
                    vaf_percent=float(v.vaf_percent) if v.vaf_percent is not None else None,
                )
                for v in result.variants.all()
                if v.gene == "ESR1"
            )
        draw_marks.append(
            DrawMark(
                number=d.number,
                id=d.id,
                on=d.collected_on or d.due_date,
                status=d.status,
                esr1_status=result.esr1_status if result else None,
                variants=variants,
            )  # fmt: skip
        )
    state = data["state"]
    return TimelineData(
        today=today,
        treatments=bars,
        assessments=marks,
        draws=tuple(draw_marks),
        next_due=state.next_draw_due if state and state.eligible else None,
        title=f"Treatment and ctDNA timeline of {patient.full_name}",
    )


@require_safe
@role_required(Action.VIEW_CLINICAL)
def patient_detail(request, patient_id: int):
    patient = patient_for_user(request.user, patient_id)
    log_page_reads(request, [patient], action="page:patient_detail")
    data = patient_page(patient=patient)
    today = clinic_today()
    draws = numbered_draws(data["draws"])
    svg = render_timeline_svg(timeline_data(patient=patient, data=data, draws=draws, today=today))
    readings = alert_readings(data["open_alerts"], draws=draws, treatments=data["treatments"])
    for alert in data["open_alerts"]:
        alert.user_may_resolve = may_resolve(request.user, alert)
        alert.reading = readings.get(alert.id)
    state = data["state"]
    policy = current_policy()
    risk_labels = [
        rules.risk_factor_label(code, policy) for code in (state.risk_factors if state else [])
    ]
    recorded = [scans.Scan.of(a) for a in data["assessments"] if a.date <= today]
    return render(
        request,
        "chart/patient_detail.html",
        {
            "patient": patient,
            **data,
            "last_scan": scans.LastScan(scans.latest(recorded), today),
            "draws": draws,
            "timeline_svg": svg,
            "risk_labels": risk_labels,
            "today": today,
            "can_edit": can(request.user, Action.EDIT_PATIENT),
            "can_record": can(request.user, Action.RECORD_DRAW),
        },
    )


@require_safe
@role_required(Action.VIEW_CLINICAL)
def patient_summary(request, patient_id: int):
    """The patient's summary for the notes or a tumour board, laid out for paper: the
    timeline picture, the results table, open alerts and the decisions made. The browser
    prints it or saves it as PDF; nothing on it comes from another host. Reading it is
    logged like the patient page."""
    patient = patient_for_user(request.user, patient_id, log_view="page:patient_summary")
    data = patient_page(patient=patient)
    today = clinic_today()
    draws = numbered_draws(data["draws"])
    svg = render_timeline_svg(timeline_data(patient=patient, data=data, draws=draws, today=today))
    readings = alert_readings(data["open_alerts"], draws=draws, treatments=data["treatments"])
    for alert in data["open_alerts"]:
        alert.reading = readings.get(alert.id)
    decided = [a for a in data["past_alerts"] if a.decision and a.decision != "auto"]
    return render(
        request,
        "chart/patient_summary.html",
        {
            "patient": patient,
            "state": data["state"],
            "treatments": data["treatments"],
            "assessments": data["assessments"],
            "open_alerts": data["open_alerts"],
            "decisions": decided,
            "draws": draws,
            "timeline_svg": svg,
            "today": today,
            "printed_at": timezone.localtime(),
        },
    )

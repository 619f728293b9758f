"""The programme page (`/metrics/`) and its CSV download: the same selector and the same
period form as the API, so the three always show the same figures."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from accounts.decorators import role_required
from accounts.roles import Action
from config.csv_export import csv_response
from patients.models import clinic_today
from programme import charts
from programme.forms import MetricsRangeForm
from programme.selectors import DECISION_KINDS, FUNNEL_STAGES, MIN_CASES, programme_metrics

# The figures of a row, in table and CSV order: (key, heading, unit). A share or median
# has a case count `<key>_n` beside it.
COLUMNS = (
    ("monitored", "Patients monitored", ""),
    ("draws_due", "Draws due", ""),
    ("draws_on_time_pct", "Draws on time", "%"),
    ("turnaround_days_median", "Collected to reported, median", "days"),
    ("turnaround_days_p90", "Collected to reported, 90th percentile", "days"),
    ("turnaround_within_14_pct", "Reported within 14 days", "%"),
    ("failed_pct", "Failed samples", "%"),
    ("result_to_alert_minutes_median", "Result saved to alert, median", "min"),
    ("esr1_detected", "ESR1 detections", ""),
    ("detected_before_progression_pct", "Detected before progression", "%"),
    ("detection_to_decision_days_median", "Detection to decision, median", "days"),
    ("switched", "Switched to a SERD", ""),
    ("decision_to_switch_days_median", "Decision to switch, median", "days"),
)
DECISION_LABELS = {
    "switched": "Switched to a SERD",
    "repeat_test": "Repeat the test",
    "deferred": "Deferred",
    "dismissed": "Dismissed",
}


def show(value, unit: str) -> str:
    """A figure as the page prints it; a withheld one (too few cases) as a dash."""
    if value is None:
        return "—"
    if unit == "":
        return f"{value:,}"
    text = f"{value:,.2f}" if unit == "min" else f"{value:,.1f}"
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def _cells(row: dict) -> list[dict]:
    return [
        {"text": show(row[key], unit), "n": row.get(f"{key}_n"), "withheld": row[key] is None}
        for key, _, unit in COLUMNS
    ]


def _table_row(label: str, row: dict) -> str:
    """One row of the by-month or by-oncologist table, as escaped HTML: a heading cell and a
    cell per figure, with its case count and the "withheld" class when it is not shown. Made
    here rather than in the template, whose loop over some 250 oncologists times 13 figures
    cost more than the figures' queries."""
    parts = [f'<tr><th scope="row">{escape(label)}</th>']
    for cell in _cells(row):
        parts.append('<td class="pm-withheld">' if cell["withheld"] else "<td>")
        parts.append(escape(cell["text"]))
        if cell["n"] is not None:
            parts.append(f' <span class="pm-n">n={int(cell["n"])}</span>')
        parts.append("</td>")
    parts.append("</tr>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it is escaped above


def _headline(m: dict) -> list[dict]:
    def of(key: str, unit: str) -> str:
        """A share or median with the cases behind it: "71.4% (n=7)", "— (n=3)"."""
        return f"{show(m[key], unit)} (n={m[f'{key}_n']:,})"

    return [
        {"label": "Patients monitored", "value": show(m["monitored"], ""),
         "detail": f"{m['funnel']['tested']:,} tested in the period"},
        {"label": "Draws due", "value": show(m["draws_due"], ""),
         "detail": f"on time: {of('draws_on_time_pct', '%')}"},
        {"label": "Collected to reported, median",
         "value": show(m["turnaround_days_median"], "days"),
         "detail": f"90th percentile {show(m['turnaround_days_p90'], 'days')}; within 14 "
                   f"days: {of('turnaround_within_14_pct', '%')}"},
        {"label": "Failed samples", "value": show(m["failed_pct"], "%"),
         "detail": f"of {m['failed_pct_n']:,} results"},
        {"label": "Result saved to alert, median",
         "value": show(m["result_to_alert_minutes_median"], "min"),
         "detail": f"{m['result_to_alert_minutes_median_n']:,} ESR1 alerts"},
        {"label": "ESR1 detections", "value": show(m["esr1_detected"], ""),
         "detail": f"before progression: {of('detected_before_progression_pct', '%')}"},
        {"label": "Detection to decision, median",
         "value": show(m["detection_to_decision_days_median"], "days"),
         "detail": f"{m['detection_to_decision_days_median_n']:,} decisions"},
        {"label": "Switched to a SERD", "value": show(m["switched"], ""),
         "detail": "decision to switch, median "
                   + of("decision_to_switch_days_median", "days")},
    ]  # fmt: skip


@require_safe
@role_required(Action.VIEW_METRICS)
def metrics_page(request):
    form = MetricsRangeForm(request.GET, today=clinic_today())
    context = {"form": form, "min_cases": MIN_CASES, "columns": COLUMNS}
    if form.is_valid():
        start, end = form.cleaned_data["from"], form.cleaned_data["to"]
        m = programme_metrics(start=start, end=end)
        # Shown with the period in force, defaults included.
        period = {"from": start.isoformat(), "to": end.isoformat()}
        context.update(
            form=MetricsRangeForm(period, today=clinic_today()),
            metrics=m,
            headline=_headline(m),
            charts=[
                charts.on_time_chart(m["by_month"]),
                charts.turnaround_chart(m["by_month"]),
                charts.detections_chart(m["by_month"]),
            ],
            funnel_chart=charts.funnel_chart(m["funnel"]),
            funnel=[(charts.FUNNEL_LABELS[s], m["funnel"][s]) for s in FUNNEL_STAGES],
            decisions=[(DECISION_LABELS[k], m["decisions"][k]) for k in DECISION_KINDS],
            month_rows=[
                _table_row(charts.month_name(date.fromisoformat(f"{r['month']}-01")), r)
                for r in m["by_month"]
            ],
            oncologist_rows=[_table_row(r["name"], r) for r in m["by_oncologist"]],
            export_query=urlencode(period),
        )
    return render(request, "programme/metrics.html", context)


@require_safe
@role_required(Action.VIEW_METRICS)
def metrics_export(request):
    """The figures as CSV: the whole period, each month, each oncologist; one column per
    figure and case count, named as in the API."""
    form = MetricsRangeForm(request.GET, today=clinic_today())
    if not form.is_valid():
        return render(
            request, "programme/metrics.html", {"form": form, "columns": COLUMNS}, status=400
        )
    start, end = form.cleaned_data["from"], form.cleaned_data["to"]
    m = programme_metrics(start=start, end=end)
    figures = []
    for key, _, unit in COLUMNS:
        figures.append(key)
        if unit:
            figures.append(f"{key}_n")
    decisions = [f"decisions_{kind}" for kind in DECISION_KINDS]
    funnel = [f"funnel_{stage}" for stage in FUNNEL_STAGES]
    header = ["scope", "month_or_oncologist", "name", "from", "to", *figures, *decisions, *funnel]

    def line(scope: str, label: str, name: str, row: dict, *, with_funnel=False) -> list:
        values = [row[key] for key in figures] + [row["decisions"][k] for k in DECISION_KINDS]
        tail = [row["funnel"][s] for s in FUNNEL_STAGES] if with_funnel else [""] * len(funnel)
        return [scope, label, name, row["from"], row["to"], *values, *tail]

    rows = [line("all", "", "", m, with_funnel=True)]
    rows += [line("month", r["month"], "", r) for r in m["by_month"]]
    rows += [
        line("oncologist", r["oncologist"], r["name"], {**r, "from": start, "to": end})
        for r in m["by_oncologist"]
    ]
    return csv_response(f"esr1-programme-metrics-{start}-{end}.csv", header, rows)

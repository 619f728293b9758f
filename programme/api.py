"""`GET /api/v1/metrics/`: the programme's figures (SPEC section 8). The serializers document
the answer in the OpenAPI schema and say exactly which keys it has and how each is rendered;
`render_answer` applies them without the serializers' machinery per value."""

from collections.abc import Callable
from functools import cache

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from patients.models import clinic_today
from programme.forms import metrics_range
from programme.selectors import DECISION_KINDS, MIN_CASES, programme_metrics

_SMALL = f"null when drawn from fewer than {MIN_CASES} cases"


def _count(help_text: str):
    return serializers.IntegerField(help_text=help_text)


def _figure(help_text: str):
    return serializers.FloatField(allow_null=True, help_text=f"{help_text}; {_SMALL}")


def _cases(name: str):
    return serializers.IntegerField(help_text=f"the number of cases `{name}` is drawn from")


class _WithRange:
    """Adds `from` and `to` after `month` if any, before the figures (a Python keyword
    cannot be a declared field)."""

    range_help = ("first day of the period", "last day of the period")

    def get_fields(self):
        figures = super().get_fields()
        fields = {"month": figures.pop("month")} if "month" in figures else {}
        fields["from"] = serializers.DateField(help_text=self.range_help[0])
        fields["to"] = serializers.DateField(help_text=self.range_help[1])
        return {**fields, **figures}


class DecisionsSerializer(serializers.Serializer):
    def get_fields(self):
        return {
            kind: _count(f"ESR1 alerts decided `{kind}` in the period") for kind in DECISION_KINDS
        }


class FunnelSerializer(serializers.Serializer):
    monitored = _count("patients monitored in the period")
    tested = _count("of them, patients with a draw collected in the period")
    esr1_detected = _count("of them, patients with an ESR1 detection in the period")
    switched = _count("of them, patients switched to a SERD on an ESR1 decision in the period")


class FiguresSerializer(serializers.Serializer):
    monitored = _count(
        "patients on a surveillance treatment (first-line AI + CDK4/6, HR+/HER2-, enrolled, "
        "before documented progression) at any time in the period"
    )
    draws_due = _count(
        "draws due in the period: due date in it and come, collected or still planned; "
        "cancelled draws excluded"
    )
    draws_on_time_pct = _figure(
        "percent of due draws with a known outcome collected no later than 14 days after "
        "their due date"
    )
    draws_on_time_pct_n = _cases("draws_on_time_pct")
    turnaround_days_median = _figure(
        "median days from collection to report, for results reported in the period"
    )
    turnaround_days_median_n = _cases("turnaround_days_median")
    turnaround_days_p90 = _figure("90th percentile of the same days")
    turnaround_days_p90_n = _cases("turnaround_days_p90")
    turnaround_within_14_pct = _figure("percent of those results reported within 14 days")
    turnaround_within_14_pct_n = _cases("turnaround_within_14_pct")
    failed_pct = _figure("percent of results reported in the period that failed")
    failed_pct_n = _cases("failed_pct")
    result_to_alert_minutes_median = _figure(
        "median minutes from an ESR1-positive result being saved to its ESR1 alert, for "
        "ESR1 alerts raised in the period"
    )
    result_to_alert_minutes_median_n = _cases("result_to_alert_minutes_median")
    esr1_detected = _count(
        "ESR1 detections in the period: a patient's first ESR1 alert (switch or at "
        "progression) on a surveillance treatment"
    )
    detected_before_progression_pct = _figure(
        "percent of those detections made before documented progression (esr1_switch)"
    )
    detected_before_progression_pct_n = _cases("detected_before_progression_pct")
    detection_to_decision_days_median = _figure(
        "median days from an ESR1 alert to the oncologist's decision, for decisions made "
        "in the period"
    )
    detection_to_decision_days_median_n = _cases("detection_to_decision_days_median")
    switched = _count("ESR1 alerts decided `switched` in the period")
    decision_to_switch_days_median = _figure(
        "median days from a switch decision to the new treatment's start"
    )
    decision_to_switch_days_median_n = _cases("decision_to_switch_days_median")
    decisions = DecisionsSerializer(help_text="ESR1 alert decisions made in the period, by kind")


class MonthSerializer(_WithRange, FiguresSerializer):
    range_help = ("first day of the month in the period", "last day of the month in the period")
    month = serializers.CharField(help_text="the calendar month, YYYY-MM")


class OncologistSerializer(FiguresSerializer):
    oncologist = serializers.CharField(help_text="the oncologist's username")
    name = serializers.CharField(help_text="the oncologist's name")


class ProgrammeMetricsSerializer(_WithRange, FiguresSerializer):
    funnel = FunnelSerializer()
    by_month = MonthSerializer(many=True, help_text="every calendar month of the period")
    by_oncologist = OncologistSerializer(
        many=True, help_text="per oncologist (the patients' current oncologist)"
    )


def _renderer(serializer: serializers.Serializer) -> Callable[[dict], dict]:
    """A function that renders a dict as `serializer` would: its fields in order, each read
    from its source key, None kept as None, others through the field's to_representation,
    nested serializers and lists of them alike. The answer has some 260 rows of 40 figures;
    going through the serializers' per-field lookups took longer than the figures' SQL."""
    steps = []
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ListSerializer):
            child = _renderer(field.child)
            steps.append((name, field.source, lambda rows, child=child: [child(r) for r in rows]))
        elif isinstance(field, serializers.BaseSerializer):
            steps.append((name, field.source, _renderer(field)))
        else:
            steps.append((name, field.source, field.to_representation))

    def render(instance: dict) -> dict:
        answer = {}
        for name, source, represent in steps:
            value = instance[source]
            answer[name] = None if value is None else represent(value)
        return answer

    return render


@cache
def _answer_renderer() -> Callable[[dict], dict]:
    return _renderer(ProgrammeMetricsSerializer())


def render_answer(metrics: dict) -> dict:
    """The API's answer for programme_metrics' figures: what ProgrammeMetricsSerializer(
    metrics).data gives (tests/programme/test_api.py checks they agree)."""
    return _answer_renderer()(metrics)


RANGE_PARAMETERS = [
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description="first day (default: the first day of the "
        "month eleven months before `to`'s, i.e. the last twelve calendar months)",
    ),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: today)"),
]  # fmt: skip


class MetricsView(APIView):
    """Programme metrics: aggregates only, no patient is named."""

    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.VIEW_METRICS}

    @extend_schema(
        operation_id="metrics_retrieve",
        parameters=RANGE_PARAMETERS,
        responses={200: ProgrammeMetricsSerializer},
    )
    def get(self, request):
        start, end = metrics_range(request.query_params, today=clinic_today())
        metrics = programme_metrics(start=start, end=end)
        return Response(render_answer(metrics))

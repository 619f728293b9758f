"""Reads for the patient chart: a patient's record together with what surveillance made of it.

Who may see which patient is decided in patients.selectors; these narrow nothing further.
"""

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from patients.models import Patient
from patients.search import ORDER as search_order
from patients.search import matches as name_or_mrn
from patients.selectors import patients_visible_to
from surveillance.models import Alert, Draw, Result, SurveillanceState, Variant


def patient_list(*, user, search: str = "", eligible: str = "", risk: str = "",
                 oncologist: str = "", open_alerts: str = "") -> QuerySet[Patient]:  # fmt: skip
    """The patient list page: search and filters, with what each row shows in one query.

    Page it with config.pagination.PageByIdPaginator: its order is the name index's, so a
    page's ids come off the index and only that page's rows are joined. The open-alert count
    is a correlated subquery, not a JOIN + GROUP BY: it is then counted for the page's rows
    only, instead of aggregating every patient before the first row can be returned.
    """
    open_alerts_of_patient = Alert.objects.filter(patient=OuterRef("pk"), status="open")
    open_alert_count = Subquery(
        open_alerts_of_patient.order_by().values("patient").annotate(n=Count("id")).values("n"),
        output_field=IntegerField(),
    )
    patients = (
        patients_visible_to(user)
        .select_related("oncologist", "surveillance_state")
        .annotate(open_alert_count=Coalesce(open_alert_count, 0))
    )
    if search.strip():
        patients = patients.filter(name_or_mrn(search))
    if eligible in ("yes", "no"):
        flag = eligible == "yes"
        patients = (
            patients.filter(surveillance_state__eligible=True)
            if flag
            else patients.exclude(surveillance_state__eligible=True)
        )
    if risk in ("high", "standard"):
        patients = patients.filter(surveillance_state__risk_level=risk)
    if oncologist:
        patients = patients.filter(oncologist__username=oncologist)
    if open_alerts == "yes":
        patients = patients.filter(Exists(open_alerts_of_patient))
    if search.strip():
        # The same order, on the search's indexes rather than the order's (patients.search).
        return patients.order_by(*search_order)
    # The patient_list_order_idx index (Patient.Meta) holds exactly this order.
    return patients.order_by("family_name", "given_name", "id")


def patient_page(*, patient: Patient) -> dict:
    """Everything the patient page shows, in a fixed number of queries."""
    state = SurveillanceState.objects.filter(patient=patient).first()
    treatments = list(
        patient.treatments.select_related("endocrine_therapy", "cdk46_inhibitor").order_by(
            "start_date", "id"
        )
    )
    draws = list(
        Draw.objects.filter(patient=patient)
        .select_related("result")
        .prefetch_related(
            Prefetch("result__variants", queryset=Variant.objects.order_by("id")),
            # Results a corrected laboratory report replaced, with what they said.
            Prefetch(
                "superseded_results",
                queryset=Result.objects.order_by("superseded_at").prefetch_related("variants"),
            ),
        )
        .order_by("id")
    )
    alerts = list(
        Alert.objects.filter(patient=patient).select_related("resolved_by").order_by("-created_at")
    )
    return {
        "state": state,
        "treatments": treatments,
        "assessments": list(patient.assessments.order_by("date", "id")),
        "appointments": list(patient.appointments.order_by("date", "id")),
        "draws": draws,
        "open_alerts": [a for a in alerts if a.status == "open"],
        "past_alerts": [a for a in alerts if a.status != "open"],
    }

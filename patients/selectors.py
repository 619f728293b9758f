"""Reads of clinical records: the one place that decides what a user may see."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Action, can
from patients.models import Patient, PatientAccess


def sees_every_patient(user) -> bool:
    """Clinicians read every patient's record (SPEC section 1)."""
    return can(user, Action.VIEW_CLINICAL)


def patients_visible_to(user) -> QuerySet[Patient]:
    """Every patient for clinicians (SPEC section 1); nothing for anyone else."""
    if not sees_every_patient(user):
        return Patient.objects.none()
    return Patient.objects.all()


def records_visible_to(user, records: QuerySet, *, patient: str = "patient") -> QuerySet:
    """`records` (rows that belong to a patient through the `patient` lookup) narrowed to the
    patients `user` may see. For someone who sees every patient nothing is added: a filter
    `patient IN (SELECT id FROM patients_patient)` changes no result but makes Postgres join
    every patient into every list of alerts or draws."""
    if sees_every_patient(user):
        return records
    return records.filter(**{f"{patient}__in": patients_visible_to(user)})


def patient_for_user(user, patient_id, *, log_view: str | None = None) -> Patient:
    """The patient if `user` may see it, else 404. With `log_view`, the read is logged."""
    try:
        patient = patients_visible_to(user).select_related("oncologist").get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404("No such patient.") from None
    if log_view:
        log_patient_access(user=user, patient=patient, view=log_view)
    return patient


def log_patient_access(*, user, patient, view: str) -> None:
    PatientAccess.objects.create(user=user, patient=patient, view=view)


def patient_list(*, user, search: str = "", eligible: str = "", risk: str = "",
                 oncologist: str = "", open_alerts: str = "") -> QuerySet[Patient]:  # fmt: skip
    """The patient list page: search and filters, with what each row shows in one query.

    Page it with config.pagination.PageByIdPaginator: its order is the name index's, so a
    page's ids come off the index and only that page's rows are joined. The open-alert count
    is a correlated subquery, not a JOIN + GROUP BY: it is then counted for the page's rows
    only, instead of aggregating every patient before the first row can be returned.
    """
    from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
    from django.db.models.functions import Coalesce

    from surveillance.models import Alert

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
    if search:
        term = search.strip()
        patients = patients.filter(
            Q(mrn__icontains=term) | Q(given_name__icontains=term) | Q(family_name__icontains=term)
        )
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
    # The patient_list_order_idx index (Patient.Meta) holds exactly this order.
    return patients.order_by("family_name", "given_name", "id")


def patient_page(*, patient: Patient) -> dict:
    """Everything the patient page shows, in a fixed number of queries."""
    from django.db.models import Prefetch

    from surveillance.models import Alert, Draw, SurveillanceState, Variant

    state = SurveillanceState.objects.filter(patient=patient).first()
    treatments = list(
        patient.treatments.select_related("endocrine_therapy", "cdk46_inhibitor").order_by(
            "start_date", "id"
        )
    )
    draws = list(
        Draw.objects.filter(patient=patient)
        .select_related("result")
        .prefetch_related(Prefetch("result__variants", queryset=Variant.objects.order_by("id")))
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

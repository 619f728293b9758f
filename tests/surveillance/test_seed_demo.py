from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from patients.models import Appointment, Assessment, Patient, Treatment
from surveillance.models import Alert, Draw, Result, SurveillanceState, Variant

pytestmark = pytest.mark.django_db

DEMO_USERNAMES = ("dr.osei", "nurse.park", "admin.lee")
DEMO = "DEMO-"


def demo_rows() -> dict[str, object]:
    """Row counts of the demo cohort only, so other data in the database does not matter."""
    return {
        "patients": Patient.objects.filter(mrn__startswith=DEMO).count(),
        "users": User.objects.filter(username__in=DEMO_USERNAMES).count(),
        **{
            model.__name__: model.objects.filter(patient__mrn__startswith=DEMO).count()
            for model in (Treatment, Assessment, Appointment, Draw, Alert)
        },
        "results": Result.objects.filter(draw__patient__mrn__startswith=DEMO).count(),
        "variants": Variant.objects.filter(result__draw__patient__mrn__startswith=DEMO).count(),
        "draws": sorted(
            Draw.objects.filter(patient__mrn__startswith=DEMO).values_list(
                "id", "status", "due_date", "accession"
            )
        ),
        "alerts": sorted(
            Alert.objects.filter(patient__mrn__startswith=DEMO).values_list("id", "kind", "status")
        ),
    }


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", allow_without_debug=True, stdout=out)
    return out.getvalue()


def test_seed_demo_is_idempotent_and_creates_users_and_cohort():
    first_output = seed()
    first = demo_rows()
    second_output = seed()

    assert demo_rows() == first
    assert first["patients"] == 12 and first["users"] == 3 and first["variants"] > 0
    assert "12 patient(s) created" in first_output
    assert "0 patient(s) created, 12 already present" in second_output
    for output in (first_output, second_output):
        assert "dr.osei" in output and "nurse.park" in output and "admin.lee" in output
        assert "eligible" in output  # the engine ran and reported

    roles = dict(User.objects.filter(username__in=DEMO_USERNAMES).values_list("username", "role"))
    assert roles == {"dr.osei": "oncologist", "nurse.park": "nurse", "admin.lee": "admin"}
    assert User.objects.get(username="nurse.park").check_password("esr1-demo-2026")


def test_seed_demo_covers_the_surveillance_situations():
    seed()
    by_mrn = {p.mrn: p for p in Patient.objects.filter(mrn__startswith=DEMO)}
    esr1 = dict(
        Result.objects.filter(draw__patient__mrn__startswith=DEMO)
        .values_list("draw__patient__mrn", "esr1_status")
        .order_by("reported_on")
    )  # the latest result per patient wins

    assert esr1["DEMO-0004"] == "detected"
    shorts = set(Variant.objects.filter(result__draw__patient__mrn="DEMO-0004", gene="ESR1")
                 .values_list("short", flat=True))  # fmt: skip
    assert shorts == {"D538G", "Y537S"}
    assert esr1["DEMO-0010"] == "failed"
    assert esr1["DEMO-0012"] == "not_detected"
    assert Variant.objects.filter(result__draw__patient__mrn="DEMO-0012", esr1_vus=True).exists()
    assert Draw.objects.filter(
        patient__mrn="DEMO-0011", status="collected", result__isnull=True
    ).exists()
    assert not Draw.objects.filter(patient__mrn="DEMO-0001").exclude(status="planned").exists()
    assert Result.objects.filter(draw__patient__mrn="DEMO-0003").count() >= 4
    assert by_mrn["DEMO-0002"].prior_adjuvant_ai
    assert "liver" in by_mrn["DEMO-0002"].metastatic_sites
    assert Assessment.objects.filter(patient__mrn="DEMO-0006", response="PD").exists()
    assert Treatment.objects.filter(
        patient__mrn="DEMO-0008", endocrine_therapy_id="camizestrant", end_date__isnull=True
    ).exists()
    assert Treatment.objects.filter(patient__mrn="DEMO-0009", line_number=2).exists()
    assert Appointment.objects.filter(patient__mrn="DEMO-0005").exists()
    # Every clinical row was written with a user in the audit context.
    assert SurveillanceState.objects.filter(patient__mrn__startswith="DEMO-").count() == 12


def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())
    assert not Patient.objects.filter(mrn__startswith=DEMO).exists()
    assert not User.objects.filter(username__in=DEMO_USERNAMES).exists()


def test_seed_demo_shows_each_alert_after_the_engine_run():
    seed()
    kinds = {}
    open_alerts = Alert.objects.filter(status="open", patient__mrn__startswith=DEMO)
    for mrn, kind in open_alerts.values_list("patient__mrn", "kind"):
        kinds.setdefault(mrn, set()).add(kind)
    states = {
        s.patient.mrn: s
        for s in SurveillanceState.objects.filter(patient__mrn__startswith=DEMO).select_related(
            "patient"
        )
    }

    assert "esr1_switch" in kinds["DEMO-0004"]
    assert "esr1_at_progression" in kinds["DEMO-0007"]
    assert "esr1_vus_review" in kinds["DEMO-0012"]
    assert "redraw_needed" in kinds["DEMO-0010"]
    assert "result_overdue" in kinds["DEMO-0011"]
    assert "draw_due" in kinds["DEMO-0002"]
    assert "DEMO-0001" not in kinds and "DEMO-0003" not in kinds
    assert states["DEMO-0002"].risk_level == "high"
    assert (
        states["DEMO-0005"].next_draw_due
        == Appointment.objects.get(patient__mrn="DEMO-0005", kind="clinic").date
    )  # aligned with the clinic visit
    for mrn in ("DEMO-0006", "DEMO-0007", "DEMO-0008", "DEMO-0009"):
        assert not states[mrn].eligible, mrn
    assert "second" in states["DEMO-0009"].reason.lower()
    assert "serd" in states["DEMO-0008"].reason.lower()


def test_seed_demo_with_a_programme_history_makes_every_metric_a_number():
    """make run loads the demo with a programme's year behind it: the metrics page then shows
    a number for every figure, not "too few cases"."""
    from programme.forms import default_start
    from programme.selectors import programme_metrics
    from tests.factories import TODAY
    from tests.programme.test_seeded_figures import SHARES_AND_MEDIANS

    out = StringIO()
    call_command("seed_demo", allow_without_debug=True, programme_history=600, stdout=out)
    assert "Programme history: 600 synthetic patients" in out.getvalue()
    assert Patient.objects.filter(mrn__startswith="SYN").count() == 600

    m = programme_metrics(start=default_start(TODAY), end=TODAY, today=TODAY)
    missing = [name for name in SHARES_AND_MEDIANS if m[name] is None]
    assert missing == [], {name: m[f"{name}_n"] for name in missing}
    assert m["funnel"]["switched"] > 0

    again = StringIO()
    call_command("seed_demo", allow_without_debug=True, programme_history=600, stdout=again)
    assert "a synthetic cohort is already loaded" in again.getvalue()
    assert Patient.objects.filter(mrn__startswith="SYN").count() == 600

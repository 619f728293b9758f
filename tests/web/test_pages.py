"""Server-rendered pages: what each role sees and can do, with the same rules as the API."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import PatientAccess, Treatment
from surveillance import engine, views
from surveillance.models import Alert, Draw, Result
from tests.factories import (
    TODAY,
    AppointmentFactory,
    AssessmentFactory,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db


def positive_patient(oncologist, **kw):
    patient = PatientFactory(oncologist=oncologist, **kw)
    TreatmentFactory(patient=patient, start_date=days(-150))
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-12))
    result = ResultFactory(draw=draw, reported_on=days(-5), esr1_status="detected")
    VariantFactory(result=result, vaf_percent=Decimal("0.4"))
    return patient


def overdue_patient(oncologist, **kw):
    patient = PatientFactory(oncologist=oncologist, **kw)
    TreatmentFactory(patient=patient, start_date=days(-100))
    AssessmentFactory(patient=patient, date=days(-30))
    AppointmentFactory(patient=patient, date=days(40))
    return patient


def test_oncologist_home_lists_esr1_alerts_first_with_variant_and_days(client, oncologist):
    positive_patient(oncologist, family_name="Alvarez")
    overdue_patient(oncologist, family_name="Brown")
    engine.run_all()
    client.force_login(oncologist)
    html = client.get("/").content.decode()
    assert "Welcome, Ada Osei" in html
    esr1 = html.index("ESR1 switch alerts")
    others = html.index("Draws and other alerts")
    assert esr1 < html.index("Alvarez") < others < html.index("Brown")
    assert "ESR1 D538G (0.4%) detected" in html
    assert "5 days" in html


def test_nurse_home_lists_overdue_draws_and_pending_results(client, nurse, oncologist):
    late = overdue_patient(oncologist, family_name="Late")
    waiting = PatientFactory(oncologist=oncologist, family_name="Waiting")
    TreatmentFactory(patient=waiting, start_date=days(-60))
    DrawFactory(patient=waiting, status="collected", collected_on=days(-3))
    engine.run_all()
    client.force_login(nurse)
    html = client.get("/").content.decode()
    overdue_section = html[html.index("Overdue draws") : html.index("Due today")]
    assert "Late" in overdue_section
    pending = html[html.index("Results not back yet") : html.index("Draw alerts")]
    assert "Waiting" in pending and "Enter result" in pending
    assert f"/patients/{late.id}/draws/new/" in overdue_section


def test_nurse_home_pages_each_long_section_on_its_own(client, nurse, oncologist, monkeypatch):
    monkeypatch.setattr(views, "WORKLIST_SECTION_ROWS", 4)
    late = [overdue_patient(oncologist, family_name=f"Late{i:02d}") for i in range(6)]
    waiting = PatientFactory(oncologist=oncologist, family_name="Waiting")
    TreatmentFactory(patient=waiting, start_date=days(-60))
    DrawFactory(patient=waiting, status="collected", collected_on=days(-3))
    engine.run_all()
    client.force_login(nurse)

    def overdue_names(html):
        section = html[html.index("Overdue draws") : html.index("Due today")]
        return sorted(set(re.findall(r"Late\d\d", section)))

    html = client.get("/", {"pending_results": "1"}).content.decode()
    first = overdue_names(html)
    assert len(first) == 4 and "1–4 of 6" in html
    assert 'href="?pending_results=1&amp;overdue=2">Next</a>' in html
    assert "Waiting" in html  # the other sections are unaffected

    html = client.get("/", {"pending_results": "1", "overdue": "2"}).content.decode()
    second = overdue_names(html)
    assert len(second) == 2 and "5–6 of 6" in html
    assert sorted(first + second) == sorted(p.family_name for p in late)
    # A page past the end or not a number shows the nearest real page, not an error.
    assert client.get("/", {"overdue": "99"}).status_code == 200
    assert client.get("/", {"overdue": "x"}).status_code == 200


def test_admin_home_links_administration_and_no_clinical_pages(client, admin_user, oncologist):
    patient = positive_patient(oncologist)
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert "/admin/accounts/user/" in html and "/admin/pghistory/events/" in html
    assert "Patients</a>" not in html
    for url in ["/patients/", f"/patients/{patient.id}/", f"/patients/{patient.id}/draws/new/"]:
        assert client.get(url).status_code == 403, url


def test_patient_list_search_and_filters(client, oncologist):
    positive_patient(oncologist, family_name="Needle", mrn="FIND-ME")
    overdue_patient(oncologist, family_name="Haystack")
    engine.run_all()
    client.force_login(oncologist)
    assert "Needle" in client.get("/patients/", {"search": "find-me"}).content.decode()
    html = client.get("/patients/", {"search": "needle"}).content.decode()
    assert "Needle" in html and "Haystack" not in html
    html = client.get("/patients/", {"open_alerts": "yes", "eligible": "yes"}).content.decode()
    assert "Needle" in html and "Haystack" in html
    assert "2 patients" in html


@pytest.mark.parametrize("n", [3, 50])
def test_patient_list_and_worklist_query_counts_are_constant(
    client, oncologist, django_assert_max_num_queries, n
):
    for i in range(n):
        (positive_patient if i % 2 else overdue_patient)(oncologist)
    engine.run_all()
    client.force_login(oncologist)
    with django_assert_max_num_queries(12):
        assert client.get("/patients/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/").status_code == 200


def test_nurse_home_and_deep_list_pages_do_not_query_more_with_more_patients(
    client, nurse, oncologist
):
    def add_patients(n):
        for i in range(n):
            (positive_patient if i % 2 else overdue_patient)(oncologist)
            waiting = PatientFactory(oncologist=oncologist)
            TreatmentFactory(patient=waiting, start_date=days(-60))
            DrawFactory(patient=waiting, status="collected", collected_on=days(-3))
        engine.run_all()

    def queries(url, **params):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, params).status_code == 200
        return len(ctx.captured_queries)

    client.force_login(nurse)
    add_patients(2)
    client.get("/")  # the session's first request writes what later ones only update
    few = [queries("/"), queries("/patients/"), queries("/patients/", page=1)]
    add_patients(30)  # 64 patients: three pages of the list
    assert few == [queries("/"), queries("/patients/"), queries("/patients/", page=3)]
    html = client.get("/patients/", {"page": 3}).content.decode()
    assert "Page 3 of 3" in html
    assert len(re.findall(r'href="/patients/\d+/"', html)) == 64 - 2 * 25


@pytest.mark.parametrize("n_draws", [3, 50])
def test_patient_page_query_count_is_constant(
    client, oncologist, django_assert_max_num_queries, n_draws
):
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-2000))
    for i in range(n_draws):
        draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-1990 + i * 30))
        result = ResultFactory(draw=draw, reported_on=days(-1985 + i * 30), esr1_status="detected")
        VariantFactory(result=result, vaf_percent=Decimal("0.5") + i)
    engine.run_all()
    client.force_login(oncologist)
    with django_assert_max_num_queries(20):
        response = client.get(f"/patients/{patient.id}/")
    assert response.status_code == 200


def test_patient_page_shows_picture_table_and_logs_the_view(client, nurse, oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    client.force_login(nurse)
    html = client.get(f"/patients/{patient.id}/").content.decode()
    assert "<svg" in html and "tl-draw-detected" in html
    assert 'class="draw-number">1<' in html
    assert "D538G" in html and "Eligible" in html
    assert PatientAccess.objects.filter(user=nurse, patient=patient).exists()
    # A nurse sees the ESR1 alert but no button to decide it.
    assert "ESR1 D538G (0.4%) detected" in html
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    assert f"/alerts/{alert.id}/resolve/" not in html


def test_nurse_posting_an_esr1_decision_anyway_gets_403(client, nurse, oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    client.force_login(nurse)
    response = client.post(f"/alerts/{alert.id}/resolve/", {"decision": "dismissed", "note": "x"})
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_nurse_records_a_draw_that_fulfils_the_planned_one(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    engine.run_all()
    planned = Draw.objects.get(patient=patient, status="planned")
    client.force_login(nurse)
    page = client.get(f"/patients/{patient.id}/draws/new/").content.decode()
    assert "fulfils the planned draw" in page
    response = client.post(
        f"/patients/{patient.id}/draws/new/",
        {"collected_on": TODAY.isoformat(), "assay": "guardant360_cdx", "accession": "G-1"},
    )
    assert response.status_code == 302
    planned.refresh_from_db()
    assert (planned.status, planned.collected_on) == ("collected", TODAY)


def test_draw_form_shows_errors_next_to_the_field(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    client.force_login(nurse)
    response = client.post(
        f"/patients/{patient.id}/draws/new/",
        {"collected_on": days(3).isoformat(), "assay": "guardant360_cdx"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["collected_on"]
    assert not Draw.objects.filter(patient=patient, status="collected").exists()


def _result_post(draw, rows, **extra):
    data = {
        "reported_on": TODAY.isoformat(),
        "status": "final",
        "variants-TOTAL_FORMS": str(len(rows)),
        "variants-INITIAL_FORMS": "0",
        **extra,
    }
    for i, (gene, change, vaf) in enumerate(rows):
        data |= {f"variants-{i}-gene": gene, f"variants-{i}-protein_change": change,
                 f"variants-{i}-vaf_percent": vaf}  # fmt: skip
    return data


def test_result_form_with_two_variants_records_them(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-4))
    client.force_login(nurse)
    response = client.post(
        f"/draws/{draw.id}/result/",
        _result_post(draw, [("ESR1", "p.Asp538Gly", "0.3"), ("PIK3CA", "H1047R", "12")]),
    )
    assert response.status_code == 302, response.context and response.context["formset"].errors
    result = Result.objects.get(draw=draw)
    assert result.esr1_status == "detected"
    assert sorted(result.variants.values_list("short", flat=True)) == ["D538G", "H1047R"]


def test_result_form_bad_row_shows_error_on_that_row_and_saves_nothing(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-4))
    client.force_login(nurse)
    response = client.post(
        f"/draws/{draw.id}/result/",
        _result_post(draw, [("ESR1", "D538G", "0.3"), ("ESR1", "Y537", "1")]),
    )
    assert response.status_code == 200
    formset = response.context["formset"]
    assert not formset.forms[0].errors
    assert "protein_change" in formset.forms[1].errors
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Result.objects.filter(draw=draw).exists()


def test_result_form_add_row_without_javascript(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-4))
    client.force_login(nurse)
    response = client.post(
        f"/draws/{draw.id}/result/", _result_post(draw, [("ESR1", "", "")], add_row="1")
    )
    assert response.status_code == 200
    assert len(response.context["formset"].forms) == 2
    row = client.get("/draws/variant-row/", {"index": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="variants-2-protein_change"' in row and 'value="3"' in row


ROWS_NOT_COMPLETE = "The list of variant rows did not arrive complete, so nothing was saved."


@pytest.mark.parametrize(
    "management",
    [
        {"variants-TOTAL_FORMS": "two", "variants-INITIAL_FORMS": "0"},
        {"variants-TOTAL_FORMS": "two", "variants-INITIAL_FORMS": "0", "add_row": "1"},
        {"variants-TOTAL_FORMS": "", "variants-INITIAL_FORMS": "0"},
        {"variants-TOTAL_FORMS": "-1", "variants-INITIAL_FORMS": "0"},
        {},  # no management form at all
        {"add_row": "1"},
    ],
    ids=["not-a-number", "not-a-number-add-row", "blank", "negative", "missing", "missing-add-row"],
)
def test_result_form_with_an_unreadable_row_count_is_a_form_error(
    client, nurse, oncologist, management
):
    patient = overdue_patient(oncologist)
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-4))
    client.force_login(nurse)
    data = _result_post(draw, [("ESR1", "D538G", "0.3"), ("PIK3CA", "H1047R", "12")])
    del data["variants-TOTAL_FORMS"], data["variants-INITIAL_FORMS"]
    response = client.post(f"/draws/{draw.id}/result/", data | management)

    assert response.status_code == 200
    html = response.content.decode()
    assert ROWS_NOT_COMPLETE in html
    # The rows that did arrive are shown again, so nothing typed is lost.
    rows = response.context["formset"].forms
    assert len(rows) == (3 if "add_row" in management else 2)
    assert 'value="H1047R"' in html
    assert not Result.objects.filter(draw=draw).exists()
    draw.refresh_from_db()
    assert draw.status == "collected"


def test_result_form_add_row_reads_the_row_count_as_the_formset_does(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-4))
    client.force_login(nurse)
    data = _result_post(draw, [("ESR1", "", "")], add_row="1") | {"variants-TOTAL_FORMS": "1.0"}
    response = client.post(f"/draws/{draw.id}/result/", data)
    assert response.status_code == 200
    assert len(response.context["formset"].forms) == 2


def test_result_form_saves_once_the_rows_are_sent_again(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    draw = DrawFactory(patient=patient, status="collected", collected_on=days(-4))
    client.force_login(nurse)
    data = _result_post(draw, [("ESR1", "D538G", "0.3")]) | {"variants-TOTAL_FORMS": "x"}
    assert client.post(f"/draws/{draw.id}/result/", data).status_code == 200
    response = client.post(
        f"/draws/{draw.id}/result/", _result_post(draw, [("ESR1", "D538G", "0.3")])
    )
    assert response.status_code == 302
    assert Result.objects.get(draw=draw).esr1_status == "detected"


def test_oncologist_resolves_switched_from_the_page(client, oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    client.force_login(oncologist)
    AssessmentFactory(patient=patient, date=days(-5), response="SD")
    form_page = client.get(f"/alerts/{alert.id}/resolve/").content.decode()
    assert "Camizestrant" in form_page and "Investigational" in form_page
    response = client.post(
        f"/alerts/{alert.id}/resolve/",
        {
            "evidence_version": alert.evidence_version,
            "decision": "switched",
            "switch_date": TODAY.isoformat(),
            "new_endocrine_therapy": "camizestrant",
        },
    )
    assert response.status_code == 302
    assert Treatment.objects.filter(patient=patient, endocrine_therapy_id="camizestrant").exists()
    detail = client.get(f"/patients/{patient.id}/").content.decode()
    assert "Switched to a SERD" in detail


def test_resolve_form_requires_a_note_for_dismissal(client, oncologist):
    patient = positive_patient(oncologist)
    engine.run_all()
    alert = Alert.objects.get(patient=patient, kind="esr1_switch")
    client.force_login(oncologist)
    response = client.post(
        f"/alerts/{alert.id}/resolve/",
        {"evidence_version": alert.evidence_version, "decision": "dismissed", "note": ""},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["note"]


def test_oncologist_creates_a_patient_and_adds_first_line(client, oncologist):
    client.force_login(oncologist)
    response = client.post(
        "/patients/new/",
        {"mrn": "NEW-1", "given_name": "Rosa", "family_name": "Diaz", "birth_date": "1961-02-03",
         "sex": "female", "er_status": "positive", "pr_status": "negative",
         "her2_status": "negative", "metastatic_sites": ["bone", "liver"],
         "oncologist": "onc", "status": "active"},
    )  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    patient_url = response["Location"]
    response = client.post(
        patient_url + "treatments/new/",
        {"line_number": 1, "setting": "metastatic", "endocrine_therapy": "letrozole",
         "cdk46_inhibitor": "ribociclib", "start_date": days(-3).isoformat()},
    )  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors


def test_nurse_cannot_open_patient_edit_forms(client, nurse, oncologist):
    patient = overdue_patient(oncologist)
    client.force_login(nurse)
    assert client.get("/patients/new/").status_code == 403
    assert client.get(f"/patients/{patient.id}/edit/").status_code == 403
    assert client.get(f"/patients/{patient.id}/treatments/new/").status_code == 403
    assert client.get(f"/patients/{patient.id}/appointments/new/").status_code == 200

import pytest

from patients.models import PendingEvaluation, Treatment
from tests.factories import TODAY, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db

URL = "/api/v1/treatments/"


def detail(treatment) -> str:
    return f"{URL}{treatment.pk}/"


@pytest.fixture
def patient(oncologist):
    return PatientFactory(oncologist=oncologist)


def first_line(patient, **overrides) -> dict:
    payload = {
        "patient": patient.pk,
        "line_number": 1,
        "setting": "metastatic",
        "endocrine_therapy": "letrozole",
        "cdk46_inhibitor": "palbociclib",
        "start_date": days(-30).isoformat(),
    }
    return {**payload, **overrides}


def post(api, user, payload):
    return api(user).post(URL, payload, format="json")


# --- Create -----------------------------------------------------------------------------------


def test_oncologist_starts_first_line_therapy(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["patient"] == patient.pk
    assert body["endocrine_therapy"] == "letrozole"
    assert body["endocrine_therapy_name"] == "Letrozole"
    assert body["cdk46_inhibitor"] == "palbociclib"
    assert body["cdk46_inhibitor_name"] == "Palbociclib"
    assert body["end_date"] is None and body["end_reason"] == ""
    treatment = Treatment.objects.get(pk=body["id"])
    assert treatment.endocrine_therapy_id == "letrozole"
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_the_drug_status_note_comes_with_the_drug(api, oncologist, patient):
    response = post(
        api,
        oncologist,
        first_line(patient, endocrine_therapy="camizestrant", line_number=2),
    )

    assert response.status_code == 201, response.json()
    assert "Investigational" in response.json()["endocrine_therapy_status_note"]


def test_endocrine_therapy_alone_is_a_treatment(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, cdk46_inhibitor=None))

    assert response.status_code == 201, response.json()
    assert response.json()["cdk46_inhibitor"] is None
    assert response.json()["cdk46_inhibitor_name"] is None


def test_drug_codes_are_not_case_sensitive(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, endocrine_therapy="Letrozole"))

    assert response.status_code == 201, response.json()
    assert response.json()["endocrine_therapy"] == "letrozole"


def test_unknown_patient_is_a_field_error(api, oncologist):
    response = api(oncologist).post(
        URL, {**first_line(PatientFactory()), "patient": 999999}, format="json"
    )

    assert response.status_code == 400
    assert "No patient with id 999999" in response.json()["patient"][0]


# --- Drug validation --------------------------------------------------------------------------


def test_unknown_drug_code_lists_the_known_ones(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, endocrine_therapy="letrozol"))

    assert response.status_code == 400
    message = response.json()["endocrine_therapy"][0]
    assert "Unknown drug code 'letrozol'" in message
    assert "letrozole" in message and "fulvestrant" in message
    assert not Treatment.objects.exists()


def test_unknown_cdk46_code(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, cdk46_inhibitor="palbo"))

    assert response.status_code == 400
    assert "palbociclib, ribociclib" in response.json()["cdk46_inhibitor"][0]


def test_a_cdk46_inhibitor_is_not_an_endocrine_therapy(api, oncologist, patient):
    response = post(
        api, oncologist, first_line(patient, endocrine_therapy="ribociclib", cdk46_inhibitor=None)
    )

    assert response.status_code == 400
    assert "give it as cdk46_inhibitor" in response.json()["endocrine_therapy"][0]


def test_an_aromatase_inhibitor_is_not_a_cdk46_inhibitor(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, cdk46_inhibitor="anastrozole"))

    assert response.status_code == 400
    message = response.json()["cdk46_inhibitor"][0]
    assert "Anastrozole is an aromatase inhibitor, not a CDK4/6 inhibitor" in message


def test_a_treatment_needs_a_drug(api, oncologist, patient):
    response = post(
        api, oncologist, first_line(patient, endocrine_therapy=None, cdk46_inhibitor="")
    )

    assert response.status_code == 400
    assert "at least one drug" in response.json()["endocrine_therapy"][0]


# --- Date validation --------------------------------------------------------------------------


@pytest.mark.parametrize("end", [days(-30), days(-31)])
def test_end_date_must_be_after_start(api, oncologist, patient, end):
    response = post(
        api,
        oncologist,
        first_line(patient, end_date=end.isoformat(), end_reason="toxicity"),
    )

    assert response.status_code == 400
    assert "after the start date" in response.json()["end_date"][0]


def test_an_end_date_needs_a_reason(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, end_date=days(-1).isoformat()))

    assert response.status_code == 400
    assert "progression" in response.json()["end_reason"][0]


def test_an_ongoing_treatment_has_no_end_reason(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, end_reason="progression"))

    assert response.status_code == 400
    assert "ongoing treatment has no end reason" in response.json()["end_reason"][0]


def test_unknown_end_reason(api, oncologist, patient):
    response = post(
        api,
        oncologist,
        first_line(patient, end_date=days(-1).isoformat(), end_reason="bored"),
    )

    assert response.status_code == 400
    assert "end_reason" in response.json()


def test_start_may_be_up_to_a_month_ahead(api, oncologist, patient):
    assert (
        post(api, oncologist, first_line(patient, start_date=days(31).isoformat())).status_code
        == 201
    )


def test_start_further_ahead_is_refused(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, start_date=days(32).isoformat()))

    assert response.status_code == 400
    assert f"until {days(31)}" in response.json()["start_date"][0]


def test_end_further_ahead_than_a_month_is_refused(api, oncologist, patient):
    response = post(
        api,
        oncologist,
        first_line(patient, end_date=days(40).isoformat(), end_reason="completed"),
    )

    assert response.status_code == 400
    assert "end_date" in response.json()


def test_a_treatment_cannot_start_before_birth(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, start_date="1950-01-01"))

    assert response.status_code == 400
    assert "before the birth date" in response.json()["start_date"][0]


def test_line_numbers_start_at_one(api, oncologist, patient):
    response = post(api, oncologist, first_line(patient, line_number=0))

    assert response.status_code == 400
    assert "line_number" in response.json()


@pytest.mark.parametrize("line_number", [100, 32768, 99999999999])
def test_a_line_number_out_of_range_is_a_field_error(api, oncologist, patient, line_number):
    response = post(api, oncologist, first_line(patient, line_number=line_number))

    assert response.status_code == 400
    assert response.json() == {"line_number": ["Ensure this value is less than or equal to 99."]}
    assert not Treatment.objects.filter(patient=patient).exists()


def test_patching_an_out_of_range_line_number_is_a_field_error(api, oncologist, patient):
    treatment = TreatmentFactory(patient=patient, start_date=days(-30))

    response = api(oncologist).patch(detail(treatment), {"line_number": 100}, format="json")

    assert response.status_code == 400
    assert "line_number" in response.json()
    treatment.refresh_from_db()
    assert treatment.line_number == 1


# --- Overlap ----------------------------------------------------------------------------------


def test_overlapping_an_ongoing_treatment_names_it(api, oncologist, patient):
    ongoing = TreatmentFactory(patient=patient, start_date=days(-100))

    response = post(
        api,
        oncologist,
        first_line(
            patient, line_number=2, endocrine_therapy="fulvestrant", start_date=TODAY.isoformat()
        ),
    )

    assert response.status_code == 400
    message = response.json()["start_date"][0]
    assert f"treatment {ongoing.pk}" in message
    assert "ongoing" in message and f"since {days(-100)}" in message
    assert "End that treatment on or before" in message
    assert Treatment.objects.count() == 1


def test_overlapping_an_ended_treatment(api, oncologist, patient):
    ended = TreatmentFactory(
        patient=patient, start_date=days(-100), end_date=days(-50), end_reason="progression"
    )

    response = post(
        api, oncologist, first_line(patient, line_number=2, start_date=days(-60).isoformat())
    )

    assert response.status_code == 400
    message = response.json()["start_date"][0]
    assert f"treatment {ended.pk}" in message
    assert f"Start on or after {days(-50)}" in message


def test_running_into_a_later_treatment_is_an_end_date_error(api, oncologist, patient):
    later = TreatmentFactory(patient=patient, start_date=days(-20))

    response = post(
        api,
        oncologist,
        first_line(
            patient,
            start_date=days(-60).isoformat(),
            end_date=days(-10).isoformat(),
            end_reason="toxicity",
        ),
    )

    assert response.status_code == 400
    assert f"treatment {later.pk}" in response.json()["end_date"][0]


def test_a_switch_on_the_day_the_previous_treatment_ends_is_allowed(api, oncologist, patient):
    current = TreatmentFactory(patient=patient, start_date=days(-100))
    client = api(oncologist)

    ended = client.patch(
        detail(current), {"end_date": TODAY.isoformat(), "end_reason": "esr1_switch"}, format="json"
    )
    started = client.post(
        URL,
        first_line(patient, endocrine_therapy="camizestrant", start_date=TODAY.isoformat()),
        format="json",
    )

    assert ended.status_code == 200, ended.json()
    assert started.status_code == 201, started.json()
    assert Treatment.objects.filter(patient=patient).count() == 2


def test_adjuvant_treatment_may_overlap_the_metastatic_timeline(api, oncologist, patient):
    TreatmentFactory(patient=patient, start_date=days(-100))

    response = post(
        api,
        oncologist,
        first_line(
            patient, setting="adjuvant", cdk46_inhibitor=None, start_date=days(-50).isoformat()
        ),
    )

    assert response.status_code == 201, response.json()


def test_other_patients_treatments_do_not_overlap(api, oncologist, patient):
    TreatmentFactory(start_date=days(-100))

    assert post(api, oncologist, first_line(patient)).status_code == 201


def test_a_lost_race_is_still_a_field_error(api, oncologist, patient, monkeypatch):
    """The exclusion constraint backs up the check when two saves race."""
    TreatmentFactory(patient=patient, start_date=days(-100))
    monkeypatch.setattr("patients.services._check_no_overlap", lambda *args: None)

    response = post(
        api, oncologist, first_line(patient, line_number=2, start_date=TODAY.isoformat())
    )

    assert response.status_code == 400
    assert "at the same time" in response.json()["start_date"][0]
    assert Treatment.objects.count() == 1


# --- Update -----------------------------------------------------------------------------------


def test_ending_a_treatment(api, oncologist, patient):
    treatment = TreatmentFactory(patient=patient, start_date=days(-100))

    response = api(oncologist).patch(
        detail(treatment),
        {"end_date": days(-3).isoformat(), "end_reason": "progression"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    treatment.refresh_from_db()
    assert treatment.end_date == days(-3)
    assert treatment.end_reason == "progression"


def test_reopening_a_treatment_clears_the_end(api, oncologist, patient):
    treatment = TreatmentFactory(
        patient=patient, start_date=days(-100), end_date=days(-3), end_reason="other"
    )

    response = api(oncologist).patch(
        detail(treatment), {"end_date": None, "end_reason": None}, format="json"
    )

    assert response.status_code == 200, response.json()
    treatment.refresh_from_db()
    assert (treatment.end_date, treatment.end_reason) == (None, "")


def test_patch_extending_into_the_next_treatment_is_refused(api, oncologist, patient):
    first = TreatmentFactory(
        patient=patient, start_date=days(-100), end_date=days(-50), end_reason="progression"
    )
    TreatmentFactory(patient=patient, start_date=days(-50), line_number=2)

    response = api(oncologist).patch(
        detail(first), {"end_date": days(-40).isoformat()}, format="json"
    )

    assert response.status_code == 400
    assert "end_date" in response.json()


def test_patch_swapping_the_endocrine_drug(api, oncologist, patient):
    treatment = TreatmentFactory(patient=patient)

    response = api(oncologist).patch(
        detail(treatment), {"endocrine_therapy": "anastrozole"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["endocrine_therapy_name"] == "Anastrozole"


def test_a_treatment_cannot_move_to_another_patient(api, oncologist, patient):
    treatment = TreatmentFactory(patient=patient)
    other = PatientFactory()

    response = api(oncologist).patch(detail(treatment), {"patient": other.pk}, format="json")

    assert response.status_code == 400
    assert "cannot move to another patient" in response.json()["patient"][0]


# --- Lists, filters, roles ----------------------------------------------------------------------


def test_filter_by_patient(api, nurse, patient):
    mine = TreatmentFactory(patient=patient)
    TreatmentFactory()

    body = api(nurse).get(URL, {"patient": patient.pk}).json()

    assert [t["id"] for t in body["results"]] == [mine.pk]


def test_nurse_reads_but_cannot_record_treatments(api, nurse, patient):
    treatment = TreatmentFactory(patient=patient)
    client = api(nurse)

    assert client.get(URL).status_code == 200
    assert client.get(detail(treatment)).status_code == 200
    assert client.post(URL, first_line(patient), format="json").status_code == 403
    response = client.patch(detail(treatment), {"end_date": "2026-06-01"}, format="json")
    assert response.status_code == 403


def test_admin_has_no_access_to_treatments(api, admin_user, patient):
    treatment = TreatmentFactory(patient=patient)

    assert api(admin_user).get(URL).status_code == 403
    assert api(admin_user).get(detail(treatment)).status_code == 403
    assert api(admin_user).post(URL, first_line(patient), format="json").status_code == 403


def test_anonymous_gets_401(api, patient):
    assert api().get(URL).status_code == 401
    assert api().post(URL, first_line(patient), format="json").status_code == 401


def test_treatments_are_never_deleted(api, oncologist, patient):
    treatment = TreatmentFactory(patient=patient)

    assert api(oncologist).delete(detail(treatment)).status_code in (403, 405)
    assert Treatment.objects.filter(pk=treatment.pk).exists()


@pytest.mark.parametrize("count", [3, 50])
def test_list_runs_a_fixed_number_of_queries(api, nurse, django_assert_max_num_queries, count):
    for i in range(count):
        TreatmentFactory(endocrine_therapy_id="fulvestrant" if i % 2 else "letrozole")
    client = api(nurse)

    with django_assert_max_num_queries(3):  # count, page, one INSERT logging the reads
        response = client.get(URL)

    assert response.json()["count"] == count

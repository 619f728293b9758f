import pytest
from django.utils import timezone

from accounts.roles import Role
from patients.models import Patient, PatientAccess, PendingEvaluation
from surveillance.models import SurveillanceState
from tests.factories import TODAY, PatientFactory, days

pytestmark = pytest.mark.django_db

URL = "/api/v1/patients/"


def detail(patient) -> str:
    return f"{URL}{patient.pk}/"


def new_patient(**overrides) -> dict:
    payload = {
        "mrn": "A-1001",
        "given_name": "Maria",
        "family_name": "Lopez",
        "birth_date": "1961-04-02",
        "sex": "female",
        "er_status": "positive",
        "pr_status": "negative",
        "her2_status": "negative",
        "metastatic_diagnosis_date": "2026-01-10",
        "metastatic_sites": ["bone", "liver"],
        "prior_adjuvant_ai": True,
        "high_tumour_burden": False,
        "oncologist": "onc",
    }
    return {**payload, **overrides}


def evaluated(patient, **fields) -> SurveillanceState:
    defaults = {
        "eligible": True,
        "reason": "on first-line letrozole + palbociclib",
        "risk_level": "high",
        "risk_factors": ["visceral_metastases"],
        "next_draw_due": days(20),
        "evaluated_at": timezone.now(),
    }
    return SurveillanceState.objects.create(patient=patient, **{**defaults, **fields})


# --- Create ---------------------------------------------------------------------------------


def test_oncologist_registers_a_patient(api, oncologist):
    response = api(oncologist).post(URL, new_patient(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    patient = Patient.objects.get(pk=body["id"])
    assert patient.mrn == "A-1001"
    assert patient.oncologist == oncologist
    assert body["oncologist"] == "onc"
    assert body["metastatic_sites"] == ["bone", "liver"]
    assert body["enrolled_on"] == TODAY.isoformat()
    assert body["status"] == "active"
    assert body["surveillance"] == {
        "eligible": False,
        "reason": "not yet evaluated",
        "next_draw_due": None,
    }
    assert body["risk_level"] is None
    assert body["risk_factors"] == []


def test_a_new_patient_is_queued_for_evaluation(api, oncologist):
    response = api(oncologist).post(URL, new_patient(), format="json")

    assert PendingEvaluation.objects.filter(patient_id=response.json()["id"]).exists()


def test_enrolment_date_can_be_given(api, oncologist):
    response = api(oncologist).post(URL, new_patient(enrolled_on="2026-05-01"), format="json")

    assert response.status_code == 201
    assert response.json()["enrolled_on"] == "2026-05-01"


def test_missing_fields_are_all_named(api, oncologist):
    response = api(oncologist).post(URL, {"mrn": "A-1"}, format="json")

    assert response.status_code == 400
    assert {"given_name", "family_name", "birth_date", "oncologist", "er_status"} <= set(
        response.json()
    )
    assert not Patient.objects.exists()


def test_duplicate_mrn_is_a_field_error(api, oncologist):
    PatientFactory(mrn="A-1001", oncologist=oncologist)

    response = api(oncologist).post(URL, new_patient(mrn="a-1001"), format="json")

    assert response.status_code == 400
    assert "already has MRN A-1001" in response.json()["mrn"][0]
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("username", "message"),
    [("nobody", "No active oncologist"), ("nurse", "No active oncologist")],
)
def test_oncologist_must_be_an_active_oncologist(api, oncologist, nurse, username, message):
    response = api(oncologist).post(URL, new_patient(oncologist=username), format="json")

    assert response.status_code == 400
    assert message in response.json()["oncologist"][0]
    assert username in response.json()["oncologist"][0]


def test_deactivated_oncologist_cannot_take_new_patients(api, oncologist, make_user):
    retired = make_user("retired", Role.ONCOLOGIST)
    retired.is_active = False
    retired.save()

    response = api(oncologist).post(URL, new_patient(oncologist="retired"), format="json")

    assert response.status_code == 400
    assert "oncologist" in response.json()


def test_unknown_metastatic_site_is_named(api, oncologist):
    response = api(oncologist).post(
        URL, new_patient(metastatic_sites=["bone", "bones", "spleen"]), format="json"
    )

    assert response.status_code == 400
    message = response.json()["metastatic_sites"][0]
    assert "bones, spleen" in message
    assert "lymph_node" in message  # tells the user what to type instead


def test_a_site_listed_twice_is_refused(api, oncologist):
    response = api(oncologist).post(
        URL, new_patient(metastatic_sites=["bone", "liver", "bone"]), format="json"
    )

    assert response.status_code == 400
    assert "more than once: bone" in response.json()["metastatic_sites"][0]


@pytest.mark.parametrize("field", ["birth_date", "metastatic_diagnosis_date", "enrolled_on"])
def test_dates_that_have_happened_cannot_be_in_the_future(api, oncologist, field):
    response = api(oncologist).post(URL, new_patient(**{field: days(1).isoformat()}), format="json")

    assert response.status_code == 400
    assert "in the future" in response.json()[field][0]


def test_today_is_not_the_future(api, oncologist):
    response = api(oncologist).post(
        URL, new_patient(metastatic_diagnosis_date=TODAY.isoformat()), format="json"
    )

    assert response.status_code == 201


def test_diagnosis_cannot_precede_birth(api, oncologist):
    response = api(oncologist).post(
        URL,
        new_patient(birth_date="1961-04-02", metastatic_diagnosis_date="1960-01-01"),
        format="json",
    )

    assert response.status_code == 400
    assert "before the birth date" in response.json()["metastatic_diagnosis_date"][0]


def test_invalid_choice_is_a_field_error(api, oncologist):
    response = api(oncologist).post(URL, new_patient(her2_status="low"), format="json")

    assert response.status_code == 400
    assert "her2_status" in response.json()


def test_a_date_that_is_not_a_date_is_a_field_error(api, oncologist):
    response = api(oncologist).post(URL, new_patient(birth_date="02/04/1961"), format="json")

    assert response.status_code == 400
    assert "birth_date" in response.json()


# --- Read -------------------------------------------------------------------------------------


def test_detail_shows_the_surveillance_verdict(api, nurse):
    patient = PatientFactory(metastatic_sites=["liver"])
    evaluated(patient)

    response = api(nurse).get(detail(patient))

    assert response.status_code == 200
    body = response.json()
    assert body["surveillance"] == {
        "eligible": True,
        "reason": "on first-line letrozole + palbociclib",
        "next_draw_due": days(20).isoformat(),
    }
    assert body["risk_level"] == "high"
    assert body["risk_factors"] == ["visceral_metastases"]
    assert body["oncologist"] == patient.oncologist.username


def test_a_patient_marked_but_never_evaluated_reads_not_yet_evaluated(api, nurse):
    patient = PatientFactory()
    PendingEvaluation.objects.create(patient=patient, marked_at=timezone.now())
    # A state row without a verdict, as the outbox used to leave before the first run.
    SurveillanceState.objects.create(patient=patient)

    body = api(nurse).get(detail(patient)).json()

    assert body["surveillance"]["reason"] == "not yet evaluated"
    assert body["surveillance"]["eligible"] is False


def test_viewing_a_patient_is_logged(api, nurse):
    patient = PatientFactory()

    api(nurse).get(detail(patient))

    access = PatientAccess.objects.get()
    assert (access.user, access.patient, access.view) == (nurse, patient, "api:patient_detail")


def test_listing_patients_logs_one_read_per_listed_patient_and_no_search_words(api, nurse):
    listed = PatientFactory.create_batch(3, family_name="Listed")
    PatientFactory(family_name="Other")

    api(nurse).get(URL, {"search": "listed"})

    log = PatientAccess.objects.values_list("user", "patient", "view", "path")
    assert sorted(log) == sorted(
        (nurse.pk, p.pk, "api:patient_list", "/api/v1/patients/") for p in listed
    )


def test_unknown_patient_is_404(api, nurse):
    assert api(nurse).get(f"{URL}999999/").status_code == 404


def test_list_is_paginated(api, nurse):
    PatientFactory.create_batch(3)

    body = api(nurse).get(URL).json()

    assert body["count"] == 3
    assert body["next"] is None and body["previous"] is None
    assert len(body["results"]) == 3


def test_a_later_page_has_the_next_patients_in_name_order_with_their_verdict(
    api, nurse, django_assert_max_num_queries
):
    for i in range(53):
        evaluated(PatientFactory(family_name=f"Name{i:02d}", given_name="Ann"))
    client = api(nurse)

    with django_assert_max_num_queries(3):  # the count, the page, the access log
        body = client.get(URL, {"page": 2}).json()

    assert body["count"] == 53 and body["previous"] and body["next"] is None
    assert [p["family_name"] for p in body["results"]] == [f"Name{i:02d}" for i in range(50, 53)]
    assert all(p["surveillance"]["reason"] != "not yet evaluated" for p in body["results"])


# --- Filters ----------------------------------------------------------------------------------


def names(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {p["family_name"] for p in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("MRN-77", {"Okafor"}),
        ("mrn-7", {"Okafor", "Lindqvist"}),
        ("okaf", {"Okafor"}),
        ("GRACE", {"Okafor"}),
        ("grace okafor", {"Okafor"}),
        ("nobody", set()),
    ],
)
def test_search_by_mrn_or_name(api, nurse, query, expected):
    PatientFactory(mrn="MRN-771", given_name="Grace", family_name="Okafor")
    PatientFactory(mrn="MRN-702", given_name="Ingrid", family_name="Lindqvist")
    PatientFactory(mrn="X-1", given_name="Sam", family_name="Reyes")

    assert names(api(nurse).get(URL, {"search": query})) == expected


def test_filter_by_oncologist_username(api, nurse, oncologist, make_user):
    other = make_user("dr_two", Role.ONCOLOGIST)
    PatientFactory(family_name="Mine", oncologist=oncologist)
    PatientFactory(family_name="Theirs", oncologist=other)

    assert names(api(nurse).get(URL, {"oncologist": "onc"})) == {"Mine"}
    assert names(api(nurse).get(URL, {"oncologist": "dr_two"})) == {"Theirs"}


def test_filter_by_eligibility_counts_unevaluated_as_not_eligible(api, nurse):
    evaluated(PatientFactory(family_name="Eligible"), eligible=True)
    evaluated(PatientFactory(family_name="Ineligible"), eligible=False, reason="on a SERD")
    PatientFactory(family_name="Unevaluated")

    assert names(api(nurse).get(URL, {"eligible": "true"})) == {"Eligible"}
    assert names(api(nurse).get(URL, {"eligible": "false"})) == {"Ineligible", "Unevaluated"}


def test_a_misspelt_eligibility_filter_is_an_error_not_everyone(api, nurse):
    response = api(nurse).get(URL, {"eligible": "yes"})

    assert response.status_code == 400
    assert response.json()["eligible"] == ["Use true or false."]


def test_filters_combine(api, nurse, oncologist):
    evaluated(PatientFactory(family_name="Okafor", oncologist=oncologist), eligible=True)
    evaluated(PatientFactory(family_name="Okafor2"), eligible=True)

    query = {"search": "okafor", "oncologist": "onc", "eligible": "true"}
    assert names(api(nurse).get(URL, query)) == {"Okafor"}


# --- Update -----------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_given(api, oncologist):
    patient = PatientFactory(status="active", metastatic_sites=["bone"])

    response = api(oncologist).patch(
        detail(patient), {"status": "inactive", "high_tumour_burden": True}, format="json"
    )

    assert response.status_code == 200, response.json()
    patient.refresh_from_db()
    assert patient.status == "inactive"
    assert patient.high_tumour_burden is True
    assert patient.metastatic_sites == ["bone"]
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_patch_can_hand_the_patient_to_another_oncologist(api, oncologist, make_user):
    make_user("dr_two", Role.ONCOLOGIST)
    patient = PatientFactory(oncologist=oncologist)

    response = api(oncologist).patch(detail(patient), {"oncologist": "dr_two"}, format="json")

    assert response.status_code == 200
    assert response.json()["oncologist"] == "dr_two"


def test_patch_to_another_patients_mrn_is_refused(api, oncologist):
    PatientFactory(mrn="TAKEN-1")
    patient = PatientFactory(mrn="MINE-1")

    response = api(oncologist).patch(detail(patient), {"mrn": "TAKEN-1"}, format="json")

    assert response.status_code == 400
    assert "mrn" in response.json()
    patient.refresh_from_db()
    assert patient.mrn == "MINE-1"


def test_patch_keeping_the_own_mrn_is_fine(api, oncologist):
    patient = PatientFactory(mrn="MINE-1")

    response = api(oncologist).patch(detail(patient), {"mrn": "MINE-1"}, format="json")

    assert response.status_code == 200


def test_a_rejected_patch_saves_nothing(api, oncologist):
    patient = PatientFactory(status="active", given_name="Grace")

    response = api(oncologist).patch(
        detail(patient),
        {"given_name": "Gracie", "metastatic_sites": ["moon"]},
        format="json",
    )

    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.given_name == "Grace"
    assert patient.events.count() == 1  # the insert only


# --- Who may do what ---------------------------------------------------------------------------


def test_nurse_reads_but_cannot_edit_patients(api, nurse, oncologist):
    patient = PatientFactory()
    client = api(nurse)

    assert client.get(URL).status_code == 200
    assert client.get(detail(patient)).status_code == 200
    assert client.post(URL, new_patient(), format="json").status_code == 403
    assert client.patch(detail(patient), {"status": "inactive"}, format="json").status_code == 403
    patient.refresh_from_db()
    assert patient.status == "active"


@pytest.mark.parametrize("path", ["", "{id}/", "{id}/timeline/"])
def test_admin_has_no_access_to_patients(api, admin_user, path):
    patient = PatientFactory()
    url = URL + path.format(id=patient.pk)

    assert api(admin_user).get(url).status_code == 403
    assert not PatientAccess.objects.exists()


def test_admin_cannot_create_or_edit_patients(api, admin_user, oncologist):
    patient = PatientFactory()

    assert api(admin_user).post(URL, new_patient(), format="json").status_code == 403
    response = api(admin_user).patch(detail(patient), {"status": "inactive"}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["", "{id}/", "{id}/timeline/"])
def test_anonymous_is_asked_to_authenticate(api, path):
    patient = PatientFactory()

    response = api().get(URL + path.format(id=patient.pk))

    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_anonymous_cannot_create(api, oncologist):
    assert api().post(URL, new_patient(), format="json").status_code == 401
    assert not Patient.objects.exists()


def test_token_authentication_works(oncologist):
    from rest_framework.test import APIClient

    from tests.tokens import api_token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(oncologist)}")

    assert client.get(URL).status_code == 200


def test_patients_are_never_deleted(api, oncologist):
    patient = PatientFactory()

    response = api(oncologist).delete(detail(patient))

    assert response.status_code in (403, 405)
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_put_is_not_offered(api, oncologist):
    patient = PatientFactory()

    response = api(oncologist).put(detail(patient), new_patient(), format="json")

    assert response.status_code == 405


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 50])
def test_list_runs_a_fixed_number_of_queries(api, nurse, django_assert_max_num_queries, count):
    for patient in PatientFactory.create_batch(count):
        evaluated(patient)
    client = api(nurse)

    with django_assert_max_num_queries(3):  # count, page, one INSERT logging the reads
        response = client.get(URL, {"search": "family", "eligible": "true"})

    assert response.json()["count"] == count


@pytest.mark.parametrize("count", [3, 50])
def test_filtered_list_runs_a_fixed_number_of_queries(
    api, nurse, oncologist, django_assert_max_num_queries, count
):
    PatientFactory.create_batch(count, oncologist=oncologist)
    client = api(nurse)

    with django_assert_max_num_queries(3):  # count, page, one INSERT logging the reads
        response = client.get(URL, {"oncologist": "onc"})

    assert response.json()["count"] == count

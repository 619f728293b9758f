import pytest
from django.apps import apps
from rest_framework.test import APIClient

from patients.models import PendingEvaluation
from surveillance.models import Draw, Result, Variant
from surveillance.services import records
from tests.factories import (
    TODAY,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/results/"


@pytest.fixture(autouse=True)
def _clinic_today(monkeypatch):
    monkeypatch.setattr(records, "clinic_today", lambda: TODAY)


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def draw(oncologist):
    return DrawFactory(patient=PatientFactory(oncologist=oncologist), collected_on=days(-14))


def row(protein_change="D538G", vaf="0.4", gene="ESR1"):
    return {"gene": gene, "protein_change": protein_change, "vaf_percent": vaf}


def post(user, draw, /, **extra):
    body = {"draw": draw.pk, "reported_on": str(days(-2)), "status": "final", "variants": []}
    return client_for(user).post(URL, body | extra, format="json")


def assert_nothing_saved(draw):
    assert not Result.objects.exists()
    assert not Variant.objects.exists()
    draw.refresh_from_db()
    assert draw.status == "collected"


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


def test_a_fusion_of_another_gene_and_a_missing_vaf_are_recorded_not_refused(nurse, draw):
    response = post(
        nurse, draw,
        variants=[
            {"gene": "ESR1", "protein_change": "Y537S"},
            {"gene": "ALK", "protein_change": "EML4-ALK fusion", "vaf_percent": None},
            {"gene": "ERBB2", "reported_text": "copy number gain"},
        ],
    )  # fmt: skip

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["esr1_status"] == "detected"
    assert [(v["gene"], v["protein_change"], v["vaf_percent"], v["reported_text"])
            for v in body["variants"]] == [
        ("ESR1", "p.Tyr537Ser", None, ""),
        ("ALK", "EML4-ALK fusion", None, ""),
        ("ERBB2", "", None, "copy number gain"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "spelling",
    ["D538G", "p.D538G", "p.Asp538Gly", "ESR1 D538G", "ESR1:p.(Asp538Gly)", "p.(D538G)",
     "asp538gly", " esr1: p.D538G ", "NP_000116.2:p.Asp538Gly"],
)  # fmt: skip
def test_every_spelling_of_d538g_is_stored_canonically(nurse, draw, spelling):
    response = post(nurse, draw, variants=[row(spelling)])

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["esr1_status"] == "detected"
    assert body["variants"] == [
        {
            "gene": "ESR1",
            "protein_change": "p.Asp538Gly",
            "short": "D538G",
            "vaf_percent": 0.4,
            "esr1_activating": True,
            "esr1_vus": False,
            "reported_text": "",
        }
    ]
    assert Variant.objects.get().protein_change == "p.Asp538Gly"


@pytest.mark.parametrize("role", ["nurse", "oncologist"])
def test_clinicians_record_results(request, role, draw):
    user = request.getfixturevalue(role)
    response = post(
        user, draw,
        variants=[row("D538G", "0.4"), row("p.Tyr537Ser", 1.1), row("E545K", "6.8", "pik3ca")],
        comment="plasma ctDNA",
    )  # fmt: skip

    assert response.status_code == 201, response.data
    body = response.json()
    assert body["draw"] == draw.pk
    assert body["patient"] == draw.patient_id
    assert body["collected_on"] == str(days(-14))
    assert body["assay"] == draw.assay
    assert body["reported_on"] == str(days(-2))
    assert (body["status"], body["esr1_status"], body["comment"]) == (
        "final", "detected", "plasma ctDNA",
    )  # fmt: skip
    assert [(v["gene"], v["short"], v["vaf_percent"]) for v in body["variants"]] == [
        ("ESR1", "D538G", 0.4),
        ("ESR1", "Y537S", 1.1),
        ("PIK3CA", "E545K", 6.8),
    ]
    draw.refresh_from_db()
    assert draw.status == "resulted"

    result_event = apps.get_model("surveillance", "ResultEvent").objects.get(pgh_obj_id=body["id"])
    assert result_event.pgh_context.metadata["user"] == user.pk
    assert PendingEvaluation.objects.filter(patient=draw.patient).exists()


def test_a_vus_alone_is_not_detected(nurse, draw):
    response = post(nurse, draw, variants=[row("L536F", "0.7")])
    assert response.status_code == 201, response.data
    assert response.data["esr1_status"] == "not_detected"
    (variant,) = response.json()["variants"]
    assert (variant["short"], variant["esr1_activating"], variant["esr1_vus"]) == (
        "L536F", False, True,
    )  # fmt: skip


def test_no_variants_is_not_detected(nurse, draw):
    response = client_for(nurse).post(
        URL, {"draw": draw.pk, "reported_on": str(TODAY), "status": "final"}, format="json"
    )
    assert response.status_code == 201, response.data
    assert (response.data["esr1_status"], response.data["variants"]) == ("not_detected", [])


def test_failed_result(nurse, draw):
    response = post(nurse, draw, status="failed", comment="insufficient cfDNA")
    assert response.status_code == 201, response.data
    assert response.data["esr1_status"] == "failed"
    assert response.data["variants"] == []


def test_failed_result_with_variants_is_400(nurse, draw):
    response = post(nurse, draw, status="failed", variants=[row()])
    assert response.status_code == 400
    assert "A failed result carries no variants" in response.json()["variants"][0]
    assert_nothing_saved(draw)


# --------------------------------------------------------------------------------------------
# Invalid input: 400 with field errors, nothing saved
# --------------------------------------------------------------------------------------------


def test_one_bad_variant_names_its_row_and_nothing_is_saved(nurse, draw):
    response = post(nurse, draw, variants=[row("D538G"), row("Asp538"), row("Y537S", "1.1")])

    assert response.status_code == 400
    # Keyed by row index, as DRF keys a list serializer's errors (LIST_SERIALIZER_ERRORS_AS_DICT).
    errors = response.json()["variants"]
    assert list(errors) == ["1"]
    assert list(errors["1"]) == ["protein_change"]
    assert errors["1"]["protein_change"][0].startswith("Cannot read protein change 'Asp538'")
    assert_nothing_saved(draw)


@pytest.mark.parametrize("vaf", [0, "0", -0.5, 100.5, 1000, "0.00001"])
def test_vaf_out_of_range_is_400(nurse, draw, vaf):
    response = post(nurse, draw, variants=[row(vaf=vaf)])
    assert response.status_code == 400
    assert list(response.json()["variants"]["0"]) == ["vaf_percent"]
    assert_nothing_saved(draw)


def test_vaf_that_is_not_a_number_is_400_from_the_parser(nurse, draw):
    response = post(nurse, draw, variants=[row(), row(vaf="lots")])
    assert response.status_code == 400
    # The parser's own row errors have the same shape as the service's.
    assert response.json()["variants"] == {"1": {"vaf_percent": ["A valid number is required."]}}


def test_duplicate_variant_is_400(nurse, draw):
    response = post(nurse, draw, variants=[row("D538G", "0.4"), row("p.Asp538Gly", "0.6")])
    assert response.status_code == 400
    assert "already listed as variant 1" in response.json()["variants"]["1"]["protein_change"][0]
    assert_nothing_saved(draw)


def test_second_result_for_a_draw_is_400_on_draw(nurse, draw):
    assert post(nurse, draw).status_code == 201
    response = post(nurse, draw, variants=[row()])
    assert response.status_code == 400
    assert "already has a result" in response.json()["draw"][0]
    assert Result.objects.count() == 1
    assert not Variant.objects.exists()


@pytest.mark.parametrize(
    ("reported_on", "message"),
    [(days(-15), "before the sample was collected"), (days(1), "in the future")],
)
def test_report_date_out_of_range_is_400(nurse, draw, reported_on, message):
    response = post(nurse, draw, reported_on=str(reported_on))
    assert response.status_code == 400
    assert message in response.json()["reported_on"][0]
    assert_nothing_saved(draw)


@pytest.mark.parametrize("status", ["planned", "cancelled"])
def test_result_on_a_draw_that_was_not_collected_is_400(nurse, oncologist, status):
    patient = PatientFactory(oncologist=oncologist)
    if status == "planned":
        draw = DrawFactory(
            patient=patient, status="planned", due_date=TODAY, collected_on=None, assay="",
            accession="",
        )  # fmt: skip
    else:
        draw = DrawFactory(patient=patient, status="cancelled")
    response = post(nurse, draw)
    assert response.status_code == 400
    assert "draw" in response.json()
    assert not Result.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"draw": 999999}, "draw"),
        ({"status": "pending"}, "status"),
        ({"reported_on": "yesterday"}, "reported_on"),
        ({"variants": "ESR1 D538G"}, "variants"),
    ],
)
def test_malformed_requests_are_400(nurse, draw, body, field):
    response = post(nurse, draw, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert_nothing_saved(draw)


def test_several_problems_are_reported_together(nurse, draw):
    response = post(nurse, draw, reported_on=str(days(3)), variants=[row("L"), row(vaf=0)])
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"reported_on", "variants"}
    assert list(errors["variants"]["0"]) == ["protein_change"]
    assert list(errors["variants"]["1"]) == ["vaf_percent"]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def test_list_detail_and_filters(nurse, oncologist):
    first, second = (PatientFactory(oncologist=oncologist) for _ in range(2))
    positive = VariantFactory(result__draw__patient=first).result
    negative = ResultFactory(draw__patient=first, draw__collected_on=days(-40))
    other = ResultFactory(draw__patient=second)

    def ids(query=None):
        response = client_for(nurse).get(URL, query or {})
        assert response.status_code == 200
        return {r["id"] for r in response.json()["results"]}

    assert ids() == {positive.pk, negative.pk, other.pk}
    assert ids({"patient": first.pk}) == {positive.pk, negative.pk}
    assert ids({"draw": other.draw_id}) == {other.pk}
    assert ids({"esr1_status": "detected"}) == {positive.pk}
    assert client_for(nurse).get(URL, {"esr1_status": "maybe"}).status_code == 400

    detail = client_for(nurse).get(f"{URL}{positive.pk}/")
    assert detail.status_code == 200
    assert detail.json()["variants"][0]["short"] == "D538G"
    assert client_for(nurse).get(f"{URL}999999/").status_code == 404


def test_list_query_count_is_constant(nurse, oncologist, django_assert_max_num_queries):
    def fetch():
        with django_assert_max_num_queries(4):  # ..., one INSERT logging the reads
            response = client_for(nurse).get(URL)
        assert response.status_code == 200
        return response.json()["results"]

    def make_results(n):
        for _ in range(n):
            result = VariantFactory(result__draw__patient=PatientFactory(oncologist=oncologist))
            VariantFactory(result=result.result, protein_change="p.Tyr537Ser", short="Y537S")

    make_results(3)
    assert len(fetch()) == 3
    make_results(47)
    rows = fetch()
    assert len(rows) == 50
    assert all(len(r["variants"]) == 2 for r in rows)


# --------------------------------------------------------------------------------------------
# Who may do what
# --------------------------------------------------------------------------------------------


def test_admin_has_no_access_to_results(admin_user, draw):
    result = ResultFactory(draw__patient=draw.patient)
    client = client_for(admin_user)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{result.pk}/").status_code == 403
    assert post(admin_user, draw).status_code == 403
    assert Result.objects.count() == 1


def test_anonymous_gets_401(draw):
    result = ResultFactory(draw__patient=draw.patient)
    assert client_for().get(URL).status_code == 401
    assert client_for().get(f"{URL}{result.pk}/").status_code == 401
    assert post(None, draw).status_code == 401
    assert Result.objects.count() == 1


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_results_are_never_edited_or_deleted(oncologist, draw, method):
    result = ResultFactory(draw__patient=draw.patient, comment="as reported")
    response = getattr(client_for(oncologist), method)(
        f"{URL}{result.pk}/", {"comment": "changed", "status": "failed"}, format="json"
    )
    assert response.status_code in (403, 405)
    result.refresh_from_db()
    assert (result.comment, result.status) == ("as reported", "final")
    assert Draw.objects.filter(pk=result.draw_id).exists()


def test_row_errors_follow_drf_list_error_setting(nurse, draw, settings):
    rest_framework = dict(settings.REST_FRAMEWORK, LIST_SERIALIZER_ERRORS_AS_DICT=False)
    settings.REST_FRAMEWORK = rest_framework
    response = post(nurse, draw, variants=[row(), row("Y537S", vaf=0), row("E380Q")])
    assert response.status_code == 400
    errors = response.json()["variants"]
    assert errors[0] == {} and errors[2] == {}
    assert list(errors[1]) == ["vaf_percent"]

"""`/api/v1/imports/`: the three formats, the answers (201, 200, 202, 422, 400, 413), who may
post and who may read, and the inbox's match and reject actions."""

from datetime import date

import pytest

from accounts.roles import Role
from imports.models import ImportMessage
from patients.models import PatientAccess
from surveillance.models import Draw, Result
from tests.factories import DrawFactory, PatientFactory, days
from tests.imports.fhir import bundle
from tests.imports.hl7 import oru
from tests.tokens import api_token

pytestmark = pytest.mark.django_db
FHIR, HL7, CSV, LIST = (
    "/api/v1/imports/fhir/",
    "/api/v1/imports/hl7v2/",
    "/api/v1/imports/csv/",
    "/api/v1/imports/",
)
CSV_HEADER = "mrn,accession,collected_on,reported_on,status,gene,protein_change,vaf_percent\n"


@pytest.fixture
def patient():
    return PatientFactory(mrn="MRN-A", birth_date=date(1960, 3, 1))


@pytest.fixture
def lab_client(api, lab):
    return api(lab)


def post(client, url, body: str, content_type="application/octet-stream"):
    return client.generic("POST", url, body.encode(), content_type=content_type)


def fhir_bundle(**changes):
    return bundle(**{"collected_on": days(-12), "reported_on": days(-2), **changes})


def hl7_message(**changes):
    return oru(**{"collected_on": days(-12), "reported_on": days(-2), **changes})


def test_a_fhir_bundle_is_imported_201(lab_client, patient):
    response = post(lab_client, FHIR, fhir_bundle(), "application/fhir+json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "imported" and body["reason"] == ""
    result = Result.objects.get(pk=body["result"])
    assert (result.draw.patient, result.source, result.report_id) == (
        patient,
        "fhir",
        "GH-REPORT-1",
    )
    assert body["import"] == ImportMessage.objects.get().pk


def test_an_imported_result_says_where_it_came_from(lab_client, api, nurse, patient):
    created = post(lab_client, FHIR, fhir_bundle()).json()

    result = api(nurse).get(f"/api/v1/results/{created['result']}/").json()

    assert (result["source"], result["report_id"]) == ("fhir", "GH-REPORT-1")


def test_an_hl7_message_over_http_is_imported_201(lab_client, patient):
    response = post(lab_client, HL7, hl7_message(terminator="\r\n"), "x-application/hl7-v2+er7")

    assert response.status_code == 201, response.json()
    assert Result.objects.get(pk=response.json()["result"]).source == "hl7v2"


def test_a_csv_batch_imports_each_report(lab_client, patient):
    other = PatientFactory(mrn="MRN-B")
    rows = (
        f"MRN-A,ACC-1,{days(-12)},{days(-2)},final,ESR1,p.D538G,0.7\n"
        f"MRN-A,ACC-1,{days(-12)},{days(-2)},final,PIK3CA,p.His1047Arg,4.0\n"
        f"MRN-B,ACC-2,{days(-9)},{days(-2)},final,,,\n"
    )
    response = post(lab_client, CSV, CSV_HEADER + rows, "text/csv")

    assert response.status_code == 201, response.json()
    assert [r["state"] for r in response.json()["reports"]] == ["imported", "imported"]
    a = Result.objects.get(draw__patient=patient)
    assert sorted(v.gene for v in a.variants.all()) == ["ESR1", "PIK3CA"]
    assert Result.objects.get(draw__patient=other).esr1_status == "not_detected"


def test_the_same_report_again_is_200_with_the_existing_result(lab_client, patient):
    first = post(lab_client, FHIR, fhir_bundle()).json()

    again = post(lab_client, FHIR, fhir_bundle())

    assert again.status_code == 200
    assert again.json()["state"] == "duplicate" and again.json()["result"] == first["result"]


def test_a_corrected_report_is_201_and_supersedes(lab_client, patient):
    first = post(lab_client, FHIR, fhir_bundle()).json()

    corrected = post(
        lab_client,
        FHIR,
        fhir_bundle(status="corrected", variants=(("ESR1", "p.Tyr537Ser", "1.2"),)),
    )

    assert corrected.status_code == 201
    assert corrected.json()["result"] != first["result"]
    assert Result.objects.get(pk=first["result"]).superseded_by_id == corrected.json()["result"]


def test_an_unmatched_report_is_202_and_listed_in_the_inbox(lab_client, api, nurse):
    response = post(lab_client, FHIR, fhir_bundle(mrn="NOBODY"))

    assert response.status_code == 202
    assert response.json()["state"] == "unmatched" and response.json()["result"] is None
    inbox = api(nurse).get(LIST, {"state": "unmatched"}).json()
    assert [m["id"] for m in inbox["results"]] == [response.json()["import"]]
    assert api(nurse).get(LIST, {"state": "imported"}).json()["count"] == 0


def test_a_birth_date_mismatch_is_202_and_names_it(lab_client, patient):
    response = post(lab_client, FHIR, fhir_bundle(birth_date=date(1970, 1, 1)))

    assert response.status_code == 202
    assert "Birth date mismatch" in response.json()["reason"]
    assert not Result.objects.exists()


def test_an_unreadable_esr1_change_is_422_with_the_reason(lab_client, patient):
    response = post(lab_client, FHIR, fhir_bundle(variants=(("ESR1", "Asp538 banana", "1"),)))

    assert response.status_code == 422
    assert response.json()["state"] == "rejected"
    assert "Asp538 banana" in response.json()["reason"]
    assert not Draw.objects.exists()


def test_a_fusion_of_another_gene_never_blocks_the_report(lab_client, patient):
    variants = (("ESR1", "p.Asp538Gly", "0.7"), ("ALK", "EML4::ALK fusion", None))
    response = post(lab_client, FHIR, fhir_bundle(variants=variants))

    assert response.status_code == 201, response.json()
    assert Result.objects.get().esr1_status == "detected"


def test_unreadable_content_is_400_and_kept(lab_client):
    response = post(lab_client, FHIR, "{not json")

    assert response.status_code == 400
    assert response.json()["state"] == "rejected" and response.json()["detail"]
    assert ImportMessage.objects.get().raw == "{not json"


def test_binary_garbage_is_400_never_500(lab_client, api, nurse):
    for url in (FHIR, HL7, CSV):
        response = lab_client.generic(
            "POST", url, b"\x00\xff\xfeMSH|\x00garbage", content_type="application/octet-stream"
        )
        assert response.status_code == 400, (url, response.content)
    rejected = api(nurse).get(LIST, {"state": "rejected"}).json()
    assert rejected["count"] == 3


def test_an_empty_or_form_encoded_body_is_400(lab_client):
    assert post(lab_client, FHIR, "").status_code == 400
    form = lab_client.post(HL7, {"message": "MSH|"}, format="multipart")
    assert form.status_code == 400


def test_a_message_over_1_mb_is_413(lab_client):
    response = post(lab_client, HL7, "MSH|" + "x" * (1024 * 1024 + 10))

    assert response.status_code == 413
    assert not ImportMessage.objects.exists()


def test_an_interface_account_posts_with_its_token_and_reads_nothing(api, lab, patient):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(lab)}")

    assert post(client, FHIR, fhir_bundle()).status_code == 201
    assert client.get(LIST).status_code == 403


def test_an_administrator_may_not_import_and_an_anonymous_caller_gets_401(api, make_user):
    admin = make_user("it-admin", Role.ADMIN)
    assert post(api(admin), FHIR, fhir_bundle()).status_code == 403
    assert post(api(), FHIR, fhir_bundle()).status_code in (401, 403)


def test_a_nurse_may_upload_a_batch(api, nurse, patient):
    rows = f"MRN-A,ACC-1,{days(-12)},{days(-2)},final,ESR1,D538G,0.7\n"
    assert post(api(nurse), CSV, CSV_HEADER + rows).status_code == 201


def test_the_detail_shows_the_raw_text_and_logs_the_patient_read(lab_client, api, nurse, patient):
    raw = fhir_bundle()
    created = post(lab_client, FHIR, raw).json()

    detail = api(nurse).get(f"{LIST}{created['import']}/")

    assert detail.status_code == 200 and detail.json()["raw"] == raw
    assert PatientAccess.objects.filter(user=nurse, patient=patient, view="imports").exists()


def test_a_nurse_matches_an_unmatched_report_to_a_patients_draw(lab_client, api, nurse):
    created = post(lab_client, FHIR, fhir_bundle(mrn="TYPO", birth_date=date(1950, 1, 1))).json()
    patient = PatientFactory(mrn="MRN-Q")
    draw = DrawFactory(patient=patient, collected_on=days(-12), accession="")

    response = api(nurse).post(
        f"{LIST}{created['import']}/match/", {"patient": patient.pk, "draw": draw.pk}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "imported"
    assert Result.objects.get().draw == draw


def test_a_nurse_rejects_an_unmatched_report(lab_client, api, nurse):
    created = post(lab_client, FHIR, fhir_bundle(mrn="TYPO")).json()

    response = api(nurse).post(f"{LIST}{created['import']}/reject/", {"reason": "not ours"})

    assert response.status_code == 200
    assert response.json()["state"] == "rejected"
    assert api(nurse).get(LIST, {"state": "unmatched"}).json()["count"] == 0


def test_imports_have_their_own_rate_limit_above_a_persons(settings):
    from imports.api.views import FhirImportView

    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    scopes = [t.scope for t in FhirImportView.throttle_classes]
    assert "import" in scopes and "user" not in scopes
    assert int(rates["import"].split("/")[0]) >= 50 * 60  # 50 messages a second

"""Name/MRN search runs on an index: trigram (any part) where pg_trgm exists, prefix where not."""

import pytest
from django.db import connection

from patients import search
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checked_afresh():
    search.forget()
    yield
    search.forget()


def found(api, user, text):
    response = api(user).get("/api/v1/patients/", {"search": text})
    assert response.status_code == 200
    return sorted(p["mrn"] for p in response.json()["results"])


def web_found(client, user, text):
    client.force_login(user)
    html = client.get("/patients/", {"search": text}).content.decode()
    return sorted(m for m in ("MRN-ABC123", "MRN-XYZ789") if m in html)


def plan(text: str) -> str:
    queryset = Patient.objects.filter(search.matches(text)).order_by()
    return queryset.explain()


def test_with_trigram_indexes_any_part_matches_on_the_index(api, client, nurse):
    PatientFactory(mrn="MRN-ABC123", family_name="Whitmore", given_name="Ada")
    PatientFactory(mrn="MRN-XYZ789", family_name="Bancroft", given_name="Lee")
    assert search.substring_search()
    assert found(api, nurse, "itmor") == ["MRN-ABC123"]
    assert found(api, nurse, "c123") == ["MRN-ABC123"]
    assert found(api, nurse, "ncro lee") == ["MRN-XYZ789"]
    assert web_found(client, nurse, "itmor") == ["MRN-ABC123"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask for the index
    assert "patient_family_name_trgm_idx" in plan("itmor")


def test_without_trigram_indexes_the_search_matches_the_start_on_the_index(api, client, nurse):
    PatientFactory(mrn="MRN-ABC123", family_name="Whitmore", given_name="Ada")
    PatientFactory(mrn="MRN-XYZ789", family_name="Bancroft", given_name="Lee")
    with connection.cursor() as cursor:  # as on a server without pg_trgm (rolled back after)
        for column in ("mrn", "given_name", "family_name"):
            cursor.execute(f"DROP INDEX patient_{column}_trgm_idx")
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert not search.substring_search()
    assert found(api, nurse, "whit") == ["MRN-ABC123"]
    assert found(api, nurse, "itmor") == []
    assert found(api, nurse, "mrn-xyz") == ["MRN-XYZ789"]
    assert web_found(client, nurse, "Banc") == ["MRN-XYZ789"]
    assert "patient_family_name_prefix_idx" in plan("whit")

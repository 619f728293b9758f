"""Name/MRN search runs on an index: trigram (any part) where pg_trgm exists, prefix where not."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
    assert "patient_words_trgm_idx" in plan("itmor")


def test_a_word_matches_within_one_field_never_across_two(api, nurse):
    """One index over "MRN given family": a word is found inside any of the three, in any
    case, but not where it would straddle two of them."""
    PatientFactory(mrn="MRN-ABC123", family_name="Whitmore", given_name="Ada")
    PatientFactory(mrn="MRN-XYZ789", family_name="Bancroft", given_name="Lee")
    assert found(api, nurse, "ADA") == ["MRN-ABC123"]
    assert found(api, nurse, "abc123") == ["MRN-ABC123"]
    assert found(api, nurse, "123 whit ada") == ["MRN-ABC123"]
    assert found(api, nurse, "mrn") == ["MRN-ABC123", "MRN-XYZ789"]
    assert found(api, nurse, "123ada") == []  # the end of the MRN and the given name
    assert found(api, nurse, "leebanc") == []
    assert found(api, nurse, "%") == []  # LIKE's wildcards are searched for as text
    assert found(api, nurse, "_") == []


def test_the_list_page_counts_and_pages_a_search_in_one_pass(client, nurse):
    for i in range(30):
        PatientFactory(mrn=f"Q-{i:03}", family_name="Quinn", given_name=f"Pat{i:02}")
    PatientFactory(mrn="OTHER-1", family_name="Other", given_name="Pat")
    client.force_login(nurse)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get("/patients/", {"search": "quinn"}).content.decode()
    assert "30 patients" in html
    assert "Quinn, Pat00" in html and "Quinn, Pat24" in html and "Quinn, Pat25" not in html
    sql = [q["sql"] for q in ctx.captured_queries]
    # The matches are counted beside the page's ids, not in a COUNT(*) of their own.
    assert len([s for s in sql if "COUNT(*) OVER ()" in s]) == 1
    assert not [s for s in sql if s.startswith('SELECT COUNT(*) AS "__count"')]
    page_two = client.get("/patients/", {"search": "quinn", "page": 2}).content.decode()
    assert "Quinn, Pat25" in page_two and "Quinn, Pat29" in page_two
    assert "Page 2 of 2" in page_two
    assert "0 patients" in client.get("/patients/", {"search": "nobody"}).content.decode()
    past_the_end = client.get("/patients/", {"search": "quinn", "page": 9}).content.decode()
    assert "Page 2 of 2" in past_the_end


def test_without_trigram_indexes_the_search_matches_the_start_on_the_index(api, client, nurse):
    PatientFactory(mrn="MRN-ABC123", family_name="Whitmore", given_name="Ada")
    PatientFactory(mrn="MRN-XYZ789", family_name="Bancroft", given_name="Lee")
    with connection.cursor() as cursor:  # as on a server without pg_trgm (rolled back after)
        cursor.execute("DROP INDEX patient_words_trgm_idx")
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert not search.substring_search()
    assert found(api, nurse, "whit") == ["MRN-ABC123"]
    assert found(api, nurse, "itmor") == []
    assert found(api, nurse, "mrn-xyz") == ["MRN-XYZ789"]
    assert web_found(client, nurse, "Banc") == ["MRN-XYZ789"]
    assert "patient_family_name_prefix_idx" in plan("whit")

"""Deep pages of the patient list, web and API, go by key: stable, complete, and a fixed
number of queries however deep."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from surveillance.models import SurveillanceState
from tests.factories import PatientFactory, days

pytestmark = pytest.mark.django_db


def cohort(n: int) -> list[str]:
    """n patients, every other one eligible and high-risk; names with repeats, as real ones."""
    for i in range(n):
        patient = PatientFactory(family_name=f"Name{i % 7}", given_name=f"G{i % 3}")
        SurveillanceState.objects.create(
            patient=patient, eligible=i % 2 == 0, reason="r", risk_level="high",
            risk_factors=[], next_draw_due=days(20),
        )  # fmt: skip
    return list(
        Patient.objects.filter(surveillance_state__eligible=True)
        .order_by("family_name", "given_name", "id")
        .values_list("mrn", flat=True)
    )


def mrns(html: str) -> list[str]:
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return re.findall(r"<td>(MRN[^<]*)</td>", body)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="(\?[^"]*)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


def test_web_next_and_previous_links_walk_a_filtered_list_by_key(client, nurse):
    expected = cohort(130)  # 65 eligible: three pages of 25
    client.force_login(nurse)
    html = client.get("/patients/?eligible=yes&risk=high").content.decode()
    seen, pages = mrns(html), [mrns(html)]
    assert "65 patients" in html
    query_counts = []
    while (after := link(html, "next")) is not None:
        assert "after=" in after and "eligible=yes" in after and "risk=high" in after
        with CaptureQueriesContext(connection) as ctx:
            html = client.get("/patients/" + after).content.decode()
        query_counts.append(len(ctx.captured_queries))
        pages.append(mrns(html))
        seen += pages[-1]
    assert seen == expected  # every patient once, in name order
    # The first page by key counts the total once; deeper ones show it kept, without counting.
    # Each page logs its patients as read in one INSERT, whatever their number.
    assert len(pages) == 3 and query_counts == [9, 8]

    # Back from the last page by key.
    before = link(html, "prev")
    assert "before=" in before
    assert mrns(client.get("/patients/" + before).content.decode()) == pages[1]


def test_web_pages_by_key_do_not_shift_when_a_patient_is_added_before_them(client, nurse):
    cohort(60)
    client.force_login(nurse)
    first = client.get("/patients/?eligible=yes").content.decode()
    after = link(first, "next")
    second = mrns(client.get("/patients/" + after).content.decode())
    patient = PatientFactory(family_name="Aaaa", given_name="First")
    SurveillanceState.objects.create(
        patient=patient, eligible=True, reason="r", risk_level="high", risk_factors=[]
    )
    assert mrns(client.get("/patients/" + after).content.decode()) == second


def test_web_a_cursor_it_did_not_give_shows_the_first_page(client, nurse):
    expected = cohort(10)
    client.force_login(nurse)
    response = client.get("/patients/", {"eligible": "yes", "after": "not-a-cursor"})
    assert response.status_code == 200
    assert mrns(response.content.decode()) == expected


def test_api_next_links_go_by_key_through_every_patient(api, nurse):
    expected = cohort(130)
    client = api(nurse)
    body = client.get("/api/v1/patients/", {"eligible": "true"}).json()  # 50 a page
    assert body["count"] == 65
    seen = [p["mrn"] for p in body["results"]]
    while body["next"]:
        assert "after=" in body["next"] and "page=" not in body["next"]
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(body["next"]).json()
        assert len(ctx.captured_queries) <= 3  # the count, the page, the read log's one INSERT
        assert body["count"] == 65
        seen += [p["mrn"] for p in body["results"]]
    assert seen == expected
    last = [p["mrn"] for p in body["results"]]
    back = [p["mrn"] for p in client.get(body["previous"]).json()["results"]]
    assert len(last) == 15 and back == expected[:-15]


def test_api_a_cursor_it_did_not_give_is_a_400_naming_it(api, nurse):
    response = api(nurse).get("/api/v1/patients/", {"after": "bm90IGEgY3Vyc29y"})
    assert response.status_code == 400
    assert "after" in response.json()


def test_web_a_searched_list_pages_by_key_in_name_order(client, nurse):
    cohort(70)
    expected = list(
        Patient.objects.filter(family_name__in=["Name1", "Name3"])
        .order_by("family_name", "given_name", "id")
        .values_list("mrn", flat=True)
    )
    client.force_login(nurse)
    seen = []
    for term in ("name1", "name3"):
        html = client.get("/patients/", {"search": term}).content.decode()
        seen += mrns(html)
        while (after := link(html, "next")) is not None:
            html = client.get("/patients/" + after).content.decode()
            seen += mrns(html)
    assert seen == expected and len(expected) == 20


def test_api_a_searched_list_pages_by_key_in_name_order(api, nurse):
    cohort(140)
    expected = list(
        Patient.objects.filter(family_name__startswith="Name")
        .order_by("family_name", "given_name", "id")
        .values_list("mrn", flat=True)
    )
    client = api(nurse)
    body = client.get("/api/v1/patients/", {"search": "name"}).json()
    seen = [p["mrn"] for p in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [p["mrn"] for p in body["results"]]
    assert seen == expected
    back = client.get(body["previous"]).json()
    assert [p["mrn"] for p in back["results"]] == expected[50:100]


def test_the_patient_list_takes_a_fixed_number_of_queries_whatever_its_size(client, nurse):
    """The first page, a search, a filter and a page by key: as many queries with 30 patients
    as with 60, and the oncologist filter's options one query however many oncologists."""
    from surveillance import worklist_counts
    from tests.factories import UserFactory

    client.force_login(nurse)
    urls = ["/patients/", "/patients/?search=name1", "/patients/?eligible=yes&risk=high"]

    def counts() -> list[int]:
        worklist_counts.start_afresh()  # each round counts its totals afresh
        html = client.get(urls[2]).content.decode()
        client.get(urls[1])  # the search's one-off check of the indexes it may use
        pages = [*urls, urls[2].split("?")[0] + link(html, "next")]
        result = []
        for url in pages:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            result.append(len(ctx.captured_queries))
        return result

    cohort(60)
    few = counts()
    cohort(60)
    for i in range(20):
        UserFactory(username=f"onc{i}", role="oncologist")
    more = counts()
    assert more == few, (few, more)
    # session, user, count (with the page's ids for a search), the page, the read log, the
    # oncologists, the session's expiry (in a savepoint here: the test's transaction)
    assert max(more) <= 9, more

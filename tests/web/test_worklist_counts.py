"""The nurses' worklist keeps its section totals for a minute, but never shows a nurse totals
older than her own last change."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from surveillance.services import records
from tests.factories import TODAY, DrawFactory, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic_today(monkeypatch):
    monkeypatch.setattr(records, "clinic_today", lambda: TODAY)


def totals(html: str) -> dict[str, int]:
    found = re.findall(r'<h2 id="([a-z]+)-h">[^<]*<span class="count">(\d+)</span>', html)
    return {name: int(n) for name, n in found}


def due_today(oncologist):
    patient = PatientFactory(oncologist=oncologist)
    TreatmentFactory(patient=patient, start_date=days(-100))
    DrawFactory(
        patient=patient, status="planned", due_date=TODAY, collected_on=None, assay="",
        accession="",
    )  # fmt: skip
    return patient


def test_totals_are_kept_for_others_changes_but_fresh_after_your_own(client, nurse, oncologist):
    first = due_today(oncologist)
    client.force_login(nurse)
    before = totals(client.get("/").content.decode())
    assert before["today"] == 1 and before["pending"] == 0

    # Someone else's change (no request of this nurse): the kept totals show for a minute,
    # counted by no query.
    due_today(oncologist)
    with CaptureQueriesContext(connection) as kept:
        html = client.get("/").content.decode()
    assert totals(html) == before
    assert not [q for q in kept.captured_queries if q["sql"].lstrip().startswith("SELECT COUNT")]

    # Her own change, through the API: the next view counts afresh, everyone's changes too.
    api = APIClient()
    api.force_authenticate(nurse)
    response = api.post(
        "/api/v1/draws/",
        {"patient": first.pk, "collected_on": str(TODAY), "assay": "guardant360_cdx",
         "accession": "G-77"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    after = totals(client.get("/").content.decode())
    assert after["today"] == 1  # the second patient's draw; the first one's was collected
    assert after["pending"] == 1


def test_a_refused_write_does_not_count_as_a_change(client, nurse, oncologist):
    due_today(oncologist)
    client.force_login(nurse)
    before = totals(client.get("/").content.decode())
    due_today(oncologist)
    api = APIClient()
    api.force_authenticate(nurse)
    assert api.post("/api/v1/draws/", {"patient": 0}, format="json").status_code == 400
    assert totals(client.get("/").content.decode()) == before


def test_the_nurse_worklist_takes_a_fixed_number_of_queries(client, nurse, oncologist):
    for _ in range(3):
        due_today(oncologist)
    client.force_login(nurse)
    client.get("/")
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    for _ in range(5):
        due_today(oncologist)
    with CaptureQueriesContext(connection) as more:
        client.get("/")
    assert len(more.captured_queries) == len(few.captured_queries) <= 12

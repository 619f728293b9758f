"""chart.selectors: the patient list paged by id, with what each row shows."""

import pytest
from django.db import connection

from chart.selectors import patient_list
from config.pagination import PageByIdPaginator
from surveillance import engine
from tests.factories import PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def _page(user, number, **filters):
    return PageByIdPaginator(patient_list(user=user, **filters), 25).get_page(number)


def test_a_deep_page_has_its_own_rows_in_name_order_with_open_alert_counts(oncologist):
    patients = [
        PatientFactory(oncologist=oncologist, family_name=f"Name{i:02d}", given_name="Ann")
        for i in range(27)
    ]
    # Two of the last three patients are overdue for their first draw: an open alert each.
    for patient in (patients[24], patients[26]):
        TreatmentFactory(patient=patient, start_date=days(-100))
    engine.run_all()

    second = _page(oncologist, 2)
    assert second.paginator.count == 27
    rows = list(second)
    assert [p.family_name for p in rows] == ["Name25", "Name26"]
    assert [p.open_alert_count for p in rows] == [0, 1]
    assert rows[1].surveillance_state.eligible and rows[0].oncologist == oncologist

    with_alerts = _page(oncologist, 1, open_alerts="yes")
    assert with_alerts.paginator.count == 2
    assert [(p.family_name, p.open_alert_count) for p in with_alerts] == [
        ("Name24", 1),
        ("Name26", 1),
    ]


def test_the_list_order_is_read_off_its_index(oncologist):
    """patient_list's ORDER BY must stay what the (family_name, given_name, id) index holds,
    or every deep page sorts the whole table again."""
    PatientFactory.create_batch(3, oncologist=oncologist)
    page_ids = patient_list(user=oncologist)[50:75].values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
    plan = page_ids.explain()
    assert "patient_list_order_idx" in plan and "Sort" not in plan, plan

"""surveillance.selectors: the worklists' order and what serves it."""

import pytest
from django.db import connection

from surveillance import engine
from surveillance.selectors import worklist_for
from tests.factories import TODAY, PatientFactory, TreatmentFactory, days

pytestmark = pytest.mark.django_db


def test_nurse_worklist_pages_are_read_off_the_index(nurse, oncologist):
    """The nurses' worklist is clinic-wide: its ORDER BY must stay the expression the
    partial index alert_open_logistics_order_idx holds, or each page sorts every open alert."""
    for start in (-100, -52):
        TreatmentFactory(patient=PatientFactory(oncologist=oncologist), start_date=days(start))
    engine.run_all()
    page = worklist_for(user=nurse, today=TODAY).alerts[:50]
    assert [a.kind for a in page] == ["draw_overdue", "draw_due"]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
    plan = page.explain()
    assert "alert_open_logistics_order_idx" in plan and "Sort" not in plan, plan

"""The programme facts the engine keeps after each change agree with facts made from scratch,
and so do the figures read from them."""

import pytest
from django.db import connection
from psycopg.types.multirange import Multirange
from psycopg.types.range import Range

from patients.outbox import patient_changed
from patients.services import assessment_create, patient_update
from programme.selectors import programme_metrics
from surveillance import engine, programme_facts, services
from surveillance.models import (
    Alert,
    ProgrammeFact,
    ProgrammeFunnel,
    ProgrammeMonth,
    ProgrammeMonthTotal,
)
from tests.factories import TODAY, PatientFactory, TreatmentFactory, UserFactory, days

pytestmark = pytest.mark.django_db


def kept_state():
    facts = sorted(
        ProgrammeFact.objects.values_list(
            "patient_id", "oncologist_id", "figure", "on_date", "last_day", "value"
        ),
        key=repr,
    )
    sums = sorted(
        ProgrammeMonth.objects.exclude(n=0).values_list(
            "month", "oncologist_id", "figure", "value", "n"
        ),
        key=repr,
    )
    totals = sorted(
        ProgrammeMonthTotal.objects.exclude(n=0).values_list("month", "figure", "value", "n"),
        key=repr,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT patient_id, monitored::text, tested::text, detected::text, switched::text"
            " FROM surveillance_programmefunnel ORDER BY patient_id"
        )
        funnel = cursor.fetchall()
    return facts, sums, totals, funnel


def test_facts_kept_after_each_change_equal_facts_made_from_scratch(
    oncologist, nurse, django_capture_on_commit_callbacks
):
    other = UserFactory(username="dr.other", role="oncologist")
    patients = []
    with django_capture_on_commit_callbacks(execute=False):
        for n in range(4):
            patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-300))
            TreatmentFactory(patient=patient, start_date=days(-300))
            patient_changed(patient.id)  # as the services mark a patient they write
            patients.append(patient)
        engine.run_all(today=TODAY)
        assert ProgrammeFact.objects.filter(figure="span").count() == 4
        # Evaluated again with nothing new: the facts stay as they are.
        before = kept_state()
        engine.run_all(today=TODAY)
        assert kept_state() == before

        for n, patient in enumerate(patients):
            draw = services.draw_record(
                actor=nurse, patient=patient, collected_on=days(-240 + n * 9),
                assay="guardant360_cdx",
            )  # fmt: skip
            services.result_record(
                actor=nurse, draw=draw, reported_on=days(-230 + n * 9),
                status="failed" if n == 3 else "final",
                variants=[{"gene": "ESR1", "protein_change": "D538G", "vaf_percent": "0.6"}]
                if n < 2 else [],
            )  # fmt: skip
        engine.run_marked(today=TODAY)
        alerts = Alert.objects.filter(kind="esr1_switch").order_by("patient_id")
        assert alerts.count() == 2
        services.alert_resolve(
            actor=oncologist, alert=alerts[0], decision="switched", switch_date=days(-200),
            new_endocrine_therapy="camizestrant", evidence_version=alerts[0].evidence_version,
            note="No scan yet; switching on the ctDNA finding.",
        )  # fmt: skip
        services.alert_resolve(
            actor=oncologist, alert=alerts[1], decision="deferred",
            evidence_version=alerts[1].evidence_version, note="Repeat imaging first.",
        )  # fmt: skip
        assessment_create(
            actor=oncologist, patient=patients[2], date=days(-100), modality="ct", response="PD"
        )
        patient_update(actor=oncologist, patient=patients[3], oncologist=other)
        wrong = services.draw_record(
            actor=nurse, patient=patients[3], collected_on=days(-50), assay="guardant360_cdx"
        )
        services.draw_cancel(actor=nurse, draw=wrong, reason="Entered against the wrong patient.")
        engine.run_marked(today=TODAY)

    period = {"start": days(-365), "end": TODAY, "today": TODAY}
    kept, figures = kept_state(), programme_metrics(**period)
    assert figures["switched"] == 1 and figures["esr1_detected"] == 2
    assert figures["funnel"]["tested"] == 4 and figures["failed_pct_n"] == 4
    assert {row["oncologist"]: row["monitored"] for row in figures["by_oncologist"]} == {
        oncologist.username: 3,
        "dr.other": 1,
    }

    # The totals are the per-oncologist sums summed over oncologists.
    _, sums, totals, funnel = kept
    pooled = {}
    for month, _, figure, value, n in sums:
        pooled[month, figure, value] = pooled.get((month, figure, value), 0) + n
    assert {cell: n for cell, n in pooled.items() if n} == {
        (month, figure, value): n for month, figure, value, n in totals
    }
    assert any(n > 1 for *_, n in totals)
    # Every monitored patient's funnel days: all four tested, the first two detected, one
    # switched; the fourth moved to dr.other, the third progressed on day -100.
    assert [row[0] for row in funnel] == [p.id for p in patients]
    assert [row[2] != "{}" for row in funnel] == [True] * 4
    assert [row[3] != "{}" for row in funnel] == [True, True, False, False]
    assert [row[4] != "{}" for row in funnel] == [True, False, False, False]
    assert funnel[2][1] == f"{{[{days(-300)},{days(-100)})}}"

    programme_facts.rebuild()
    assert kept_state() == kept
    assert programme_metrics(**period) == figures


def test_a_database_upgraded_with_patients_gets_its_facts_built_after_migrate(oncologist):
    """Upgrading to the version that keeps facts: nobody has to remember a rebuild command."""
    from surveillance.apps import _programme_facts_from_records as after_migrate

    patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-300))
    TreatmentFactory(patient=patient, start_date=days(-300))
    assert not ProgrammeFact.objects.exists()  # the factories bypass the services

    after_migrate(sender=None, using="default")

    assert ProgrammeFact.objects.filter(patient_id=patient.id, figure="span").exists()
    before = kept_state()
    ProgrammeFact.objects.filter(figure="span").update(value=999)
    after_migrate(sender=None, using="default")
    # Built once, when there were none; later migrations leave the kept facts to the engine.
    assert ProgrammeFact.objects.filter(figure="span", value=999).exists()
    assert before != kept_state()


def test_a_patient_who_leaves_the_programme_leaves_the_funnel(
    oncologist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        stays, leaves = (
            PatientFactory(oncologist=oncologist, enrolled_on=days(-300)) for _ in "ab"
        )
        for patient in (stays, leaves):
            TreatmentFactory(patient=patient, start_date=days(-300))
            patient_changed(patient.id)
        engine.run_all(today=TODAY)
        assert ProgrammeFunnel.objects.count() == 2
        # HER2 found positive on review: outside the programme from now on.
        patient_update(actor=oncologist, patient=leaves, her2_status="positive")
        engine.run_marked(today=TODAY)

    assert list(ProgrammeFunnel.objects.values_list("patient_id", flat=True)) == [stays.id]
    figures = programme_metrics(start=days(-365), end=TODAY, today=TODAY)
    assert figures["monitored"] == 1 and figures["funnel"]["monitored"] == 1
    kept = kept_state()
    programme_facts.rebuild()
    assert kept_state() == kept


def test_the_rebuild_command_makes_facts_sums_and_funnel_days(oncologist):
    from io import StringIO

    from django.core.management import call_command

    patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-300))
    TreatmentFactory(patient=patient, start_date=days(-300))
    out = StringIO()
    call_command("rebuild_programme_facts", stdout=out)
    assert ProgrammeFunnel.objects.filter(patient_id=patient.id).exists()
    assert ProgrammeMonthTotal.objects.filter(figure="island_start", n=1).exists()
    assert "1 patients' funnel days" in out.getvalue()


def test_a_refresh_rewrites_only_the_patients_whose_facts_changed(
    oncologist, nurse, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        patients = [PatientFactory(oncologist=oncologist, enrolled_on=days(-300)) for _ in "abc"]
        for patient in patients:
            TreatmentFactory(patient=patient, start_date=days(-300))
        # The first patient has two draws collected the same day (two assays): two identical
        # facts.
        twice = [
            services.draw_record(
                actor=nurse, patient=patients[0], collected_on=days(-200), assay=assay
            )
            for assay in ("guardant360_cdx", "foundationone_liquid_cdx")
        ]
        services.draw_record(
            actor=nurse, patient=patients[1], collected_on=days(-150), assay="guardant360_cdx"
        )
        ids = [patient.id for patient in patients]
        programme_facts.refresh(ids)
        rows = {p: set(ProgrammeFact.objects.filter(patient_id=p).values_list("id", flat=True))
                for p in ids}  # fmt: skip
        assert ProgrammeFact.objects.filter(patient_id=ids[0], figure="collected").count() == 2

        # Refreshed with nothing new: every row stays the row it was.
        programme_facts.refresh(ids)
        assert {p: set(ProgrammeFact.objects.filter(patient_id=p).values_list("id", flat=True))
                for p in ids} == rows  # fmt: skip

        # One of the two identical draws cancelled: only that patient's facts are rewritten,
        # one collected draw fewer (the facts compare as multisets, not sets).
        services.draw_cancel(actor=nurse, draw=twice[1], reason="Recorded twice.")
        programme_facts.refresh(ids)

    after = {p: set(ProgrammeFact.objects.filter(patient_id=p).values_list("id", flat=True))
             for p in ids}  # fmt: skip
    assert after[ids[0]].isdisjoint(rows[ids[0]])
    assert (after[ids[1]], after[ids[2]]) == (rows[ids[1]], rows[ids[2]])
    assert ProgrammeFact.objects.filter(patient_id=ids[0], figure="collected").count() == 1
    funnel = ProgrammeFunnel.objects.get(patient_id=ids[0])
    assert funnel.tested == Multirange([Range(days(-200), days(-199))])
    kept = kept_state()
    programme_facts.rebuild()
    assert kept_state() == kept

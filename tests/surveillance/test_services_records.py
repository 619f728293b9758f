from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError

from patients.models import PendingEvaluation
from surveillance.models import Draw, Result, Variant
from surveillance.services import VariantRowError, draw_cancel, draw_record, records, result_record
from tests.factories import TODAY, DrawFactory, PatientFactory, ResultFactory, days

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clinic_today(monkeypatch):
    monkeypatch.setattr(records, "clinic_today", lambda: TODAY)


@pytest.fixture
def patient(oncologist):
    return PatientFactory(oncologist=oncologist)


@pytest.fixture
def collected(patient):
    return DrawFactory(patient=patient, collected_on=days(-20), accession="G-100")


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


def row_errors(excinfo) -> list[VariantRowError]:
    """The variant-row errors: row index, field and message, typed."""
    errors = excinfo.value.error_dict["variants"]
    return [error for error in errors if isinstance(error, VariantRowError)]


def last_event(model, obj_id):
    event_model = apps.get_model("surveillance", f"{model.__name__}Event")
    return event_model.objects.filter(pgh_obj_id=obj_id).order_by("pgh_id").last()


def variant(gene="ESR1", protein_change="D538G", vaf="0.4"):
    return {"gene": gene, "protein_change": protein_change, "vaf_percent": vaf}


# --------------------------------------------------------------------------------------------
# draw_record
# --------------------------------------------------------------------------------------------


def test_draw_record_creates_a_collected_draw(nurse, patient):
    draw = draw_record(
        actor=nurse, patient=patient, collected_on=days(-1), assay="guardant360_cdx",
        accession=" G-1 ",
    )  # fmt: skip

    draw.refresh_from_db()
    assert (draw.status, draw.collected_on, draw.assay, draw.accession) == (
        "collected", days(-1), "guardant360_cdx", "G-1",
    )  # fmt: skip
    assert draw.due_date is None


def test_draw_record_fulfils_the_planned_draw_in_place(nurse, patient):
    planned = DrawFactory(
        patient=patient, status="planned", due_date=days(-3), collected_on=None, assay="",
        accession="", pinned=True,
    )  # fmt: skip
    other_patients_plan = DrawFactory(
        status="planned", due_date=days(2), collected_on=None, assay="", accession=""
    )

    draw = draw_record(actor=nurse, patient=patient, collected_on=TODAY, assay="ddpcr_esr1")

    assert draw.pk == planned.pk
    draw.refresh_from_db()
    assert draw.status == "collected"
    assert draw.due_date == days(-3)  # kept, so on-time rates can be measured
    assert draw.collected_on == TODAY
    assert draw.assay == "ddpcr_esr1"
    assert draw.pinned is False
    assert Draw.objects.filter(patient=patient).count() == 1
    other_patients_plan.refresh_from_db()
    assert other_patients_plan.status == "planned"


def test_draw_record_marks_patient_for_evaluation_and_audits_the_user(nurse, patient):
    assert not PendingEvaluation.objects.filter(patient=patient).exists()

    draw = draw_record(actor=nurse, patient=patient, collected_on=TODAY, assay="other")

    assert PendingEvaluation.objects.filter(patient=patient).exists()
    event = last_event(Draw, draw.pk)
    assert event.pgh_label == "insert"
    assert event.pgh_context.metadata["user"] == nurse.pk


@pytest.mark.parametrize(
    ("collected_on", "message"),
    [(days(1), "in the future"), (None, "Give the date"), ("2026-01-01", "Give the date")],
)
def test_draw_record_rejects_bad_collection_dates(nurse, patient, collected_on, message):
    with pytest.raises(ValidationError) as excinfo:
        draw_record(actor=nurse, patient=patient, collected_on=collected_on, assay="other")
    assert message in errors_of(excinfo)["collected_on"][0]
    assert not Draw.objects.exists()


def test_draw_record_rejects_collection_before_birth(nurse, patient):
    with pytest.raises(ValidationError) as excinfo:
        draw_record(actor=nurse, patient=patient, collected_on=days(-30000), assay="other")
    assert "before the patient's birth date" in errors_of(excinfo)["collected_on"][0]


def test_draw_record_rejects_unknown_assay_and_reports_all_errors(nurse, patient):
    with pytest.raises(ValidationError) as excinfo:
        draw_record(actor=nurse, patient=patient, collected_on=days(1), assay="sanger")
    assert set(errors_of(excinfo)) == {"collected_on", "assay"}


def test_accession_is_unique_per_assay(nurse, patient, collected):
    with pytest.raises(ValidationError) as excinfo:
        draw_record(
            actor=nurse, patient=patient, collected_on=TODAY, assay="guardant360_cdx",
            accession="G-100",
        )  # fmt: skip
    message = errors_of(excinfo)["accession"][0]
    assert "G-100 is already recorded for a Guardant360 CDx sample" in message
    assert f"draw {collected.pk}" in message

    # Another assay's numbering is its own; blank accessions never clash.
    draw_record(
        actor=nurse, patient=patient, collected_on=TODAY, assay="ddpcr_esr1", accession="G-100"
    )
    draw_record(actor=nurse, patient=patient, collected_on=TODAY, assay="other")
    draw_record(actor=nurse, patient=patient, collected_on=days(-1), assay="other")


def test_accession_race_lost_to_the_constraint_is_a_field_error(
    nurse, patient, collected, monkeypatch
):
    # The check ran before the other write committed: the constraint has the last word.
    monkeypatch.setattr(records, "_check_accession", lambda errors, **kwargs: None)
    with pytest.raises(ValidationError) as excinfo:
        draw_record(
            actor=nurse, patient=patient, collected_on=TODAY, assay="guardant360_cdx",
            accession="G-100",
        )  # fmt: skip
    assert "accession" in errors_of(excinfo)
    assert Draw.objects.count() == 1


def test_only_clinical_roles_record_draws(admin_user, patient):
    with pytest.raises(PermissionDenied):
        draw_record(actor=admin_user, patient=patient, collected_on=TODAY, assay="other")


# --------------------------------------------------------------------------------------------
# draw_cancel
# --------------------------------------------------------------------------------------------


def test_draw_cancel_keeps_the_row_and_releases_the_accession(nurse, patient, collected):
    cancelled = draw_cancel(actor=nurse, draw=collected, reason="  wrong patient  ")

    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "wrong patient")
    assert cancelled.accession == ""
    assert last_event(Draw, collected.pk).accession == ""
    assert Draw.objects.get(pk=collected.pk)  # never deleted
    # The tube can now be recorded on the right patient.
    other = PatientFactory(oncologist=patient.oncologist)
    draw_record(
        actor=nurse, patient=other, collected_on=days(-20), assay="guardant360_cdx",
        accession="G-100",
    )  # fmt: skip
    assert PendingEvaluation.objects.filter(patient=patient).exists()


def test_draw_cancel_needs_a_reason(nurse, collected):
    with pytest.raises(ValidationError) as excinfo:
        draw_cancel(actor=nurse, draw=collected, reason="   ")
    assert "reason" in errors_of(excinfo)
    collected.refresh_from_db()
    assert collected.status == "collected"


@pytest.mark.parametrize(
    ("status", "message"),
    [("resulted", "has a result"), ("cancelled", "already cancelled"), ("planned", "planned")],
)
def test_draw_cancel_refuses_draws_that_are_not_collected(nurse, patient, status, message):
    if status == "planned":
        draw = DrawFactory(
            patient=patient, status="planned", due_date=TODAY, collected_on=None, assay="",
            accession="",
        )  # fmt: skip
    else:
        draw = DrawFactory(patient=patient, status=status)
    with pytest.raises(ValidationError) as excinfo:
        draw_cancel(actor=nurse, draw=draw, reason="mistake")
    assert message in errors_of(excinfo)[NON_FIELD_ERRORS][0]


def test_draw_cancel_rechecks_under_the_lock(nurse, collected):
    stale = Draw.objects.get(pk=collected.pk)
    result_record(actor=nurse, draw=collected, reported_on=TODAY, status="final", variants=[])

    with pytest.raises(ValidationError) as excinfo:
        draw_cancel(actor=nurse, draw=stale, reason="mistake")
    assert "has a result" in errors_of(excinfo)[NON_FIELD_ERRORS][0]


# --------------------------------------------------------------------------------------------
# result_record
# --------------------------------------------------------------------------------------------


def test_result_record_stores_canonical_variants_and_esr1_status(nurse, collected):
    result = result_record(
        actor=nurse,
        draw=collected,
        reported_on=days(-5),
        status="final",
        variants=[
            variant("esr1", "ESR1:p.(Asp538Gly)", "0.4"),
            variant("ESR1", "p.Y537S", Decimal("1.1")),
            variant("PIK3CA", "H1047R", 12.5),
        ],
        comment=" plasma ",
    )

    result.refresh_from_db()
    assert (result.status, result.esr1_status, result.comment) == ("final", "detected", "plasma")
    stored = [
        (v.gene, v.protein_change, v.short, v.vaf_percent, v.esr1_activating, v.esr1_vus)
        for v in result.variants.all()
    ]
    assert stored == [
        ("ESR1", "p.Asp538Gly", "D538G", Decimal("0.4"), True, False),
        ("ESR1", "p.Tyr537Ser", "Y537S", Decimal("1.1"), True, False),
        ("PIK3CA", "p.His1047Arg", "H1047R", Decimal("12.5"), False, False),
    ]
    collected.refresh_from_db()
    assert collected.status == "resulted"


def test_result_with_only_a_vus_is_not_detected_and_flags_the_variant(nurse, collected):
    result = result_record(
        actor=nurse, draw=collected, reported_on=TODAY, status="final",
        variants=[variant("ESR1", "L536F", "0.7")],
    )  # fmt: skip
    assert result.esr1_status == "not_detected"
    (stored,) = result.variants.all()
    assert (stored.short, stored.esr1_activating, stored.esr1_vus) == ("L536F", False, True)


def test_failed_result_has_failed_status_and_no_variants(nurse, collected):
    result = result_record(
        actor=nurse, draw=collected, reported_on=TODAY, status="failed", comment="low cfDNA"
    )
    assert result.esr1_status == "failed"
    assert not result.variants.exists()


def test_failed_result_with_variants_is_refused(nurse, collected):
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="failed",
            variants=[variant()],
        )  # fmt: skip
    assert "A failed result carries no variants" in errors_of(excinfo)["variants"][0]


def test_one_bad_variant_names_its_row_and_saves_nothing(nurse, collected):
    assert not PendingEvaluation.objects.filter(patient=collected.patient).exists()
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="final",
            variants=[variant(), variant("ESR1", "D538", "1.0"), variant("ESR1", "Y537S")],
        )  # fmt: skip

    (error,) = row_errors(excinfo)
    assert (error.index, error.field, error.row_count) == (1, "protein_change", 3)
    assert error.detail.startswith("Cannot read protein change 'D538'")
    # The flat message reads on its own where the structure is lost (forms, logs).
    assert errors_of(excinfo)["variants"][0].startswith("Variant 2, protein change: Cannot read")
    assert not Result.objects.exists()
    assert not Variant.objects.exists()
    collected.refresh_from_db()
    assert collected.status == "collected"
    assert not PendingEvaluation.objects.filter(patient=collected.patient).exists()


@pytest.mark.parametrize(
    ("vaf", "message"),
    [
        (0, "above 0%"),
        ("0", "above 0%"),
        (-1, "above 0%"),
        ("100.01", "cannot exceed 100"),
        (250, "cannot exceed 100"),
        ("0.00001", "at most 4 decimal places"),
        ("abc", "is not a number"),
        ("NaN", "from above 0 to 100"),
        (True, "Give the variant allele fraction"),
    ],
)
def test_vaf_must_be_above_zero_and_at_most_100(nurse, collected, vaf, message):
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="final",
            variants=[variant(vaf=vaf)],
        )  # fmt: skip
    (error,) = row_errors(excinfo)
    assert error.field == "vaf_percent"
    assert message in error.detail


def test_vaf_of_exactly_100_and_tiny_vafs_are_accepted(nurse, collected):
    result = result_record(
        actor=nurse, draw=collected, reported_on=TODAY, status="final",
        variants=[variant("TP53", "R273H", "100"), variant(vaf="0.0001")],
    )  # fmt: skip
    assert result.esr1_status == "detected"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"gene": "", "protein_change": "D538G", "vaf_percent": "1"}, "gene"),
        ({"gene": "ESR 1", "protein_change": "D538G", "vaf_percent": "1"}, "gene"),
        ({"gene": "X" * 17, "protein_change": "D538G", "vaf_percent": "1"}, "gene"),
        ({"gene": 5, "protein_change": "D538G", "vaf_percent": "1"}, "gene"),
        ({"gene": "ESR1", "protein_change": 538, "vaf_percent": "1"}, "protein_change"),
        ({"gene": "ESR1", "protein_change": "PIK3CA:H1047R", "vaf_percent": "1"},
         "protein_change"),
        ("ESR1 D538G 1%", NON_FIELD_ERRORS),
    ],
)  # fmt: skip
def test_malformed_rows_are_row_errors(nurse, collected, row, field):
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="final", variants=[row]
        )
    (error,) = row_errors(excinfo)
    assert error.field == field


def test_variants_as_laboratories_report_them_never_block_a_typed_result(nurse, collected):
    """Another gene's fusion or copy-number gain, an ESR1 delins, a RefSeq-prefixed change,
    a variant without a VAF: all recorded as reported, none a 400."""
    result = result_record(
        actor=nurse, draw=collected, reported_on=TODAY, status="final",
        variants=[
            variant("ESR1", "NP_000116.2:p.Asp538Gly", None),
            variant("ALK", "EML4-ALK fusion", "2.1"),
            variant("ERBB2", "", None) | {"reported_text": "copy number gain (6 copies)"},
            variant("ESR1", "p.Leu536_Asp538delinsPro", "0.8"),
            variant("KMT2D", "p.Q2634Afs*20", ""),
        ],
    )  # fmt: skip

    stored = {(v.gene, v.protein_change): v for v in result.variants.all()}
    assert set(stored) == {
        ("ESR1", "p.Asp538Gly"), ("ALK", "EML4-ALK fusion"), ("ERBB2", ""),
        ("ESR1", "p.Leu536_Asp538delinsPro"), ("KMT2D", "p.Q2634Afs*20"),
    }  # fmt: skip
    d538g = stored["ESR1", "p.Asp538Gly"]
    assert (d538g.short, d538g.vaf_percent, d538g.esr1_activating) == ("D538G", None, True)
    assert stored["ERBB2", ""].reported_text == "copy number gain (6 copies)"
    delins = stored["ESR1", "p.Leu536_Asp538delinsPro"]
    assert (delins.esr1_activating, delins.esr1_vus) == (False, True)
    assert not stored["ALK", "EML4-ALK fusion"].esr1_vus
    # D538G reported present without a VAF still counts as detected.
    assert result.esr1_status == "detected"


def test_an_unreadable_esr1_change_is_still_refused_with_its_reason(nurse, collected):
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="final",
            variants=[variant("ALK", "EML4-ALK fusion", "2"), variant("ESR1", "D538 (G?)")],
        )  # fmt: skip
    (error,) = row_errors(excinfo)
    assert (error.index, error.field) == (1, "protein_change")
    assert error.detail.startswith("Cannot read protein change 'D538 (G?)'")
    assert not Result.objects.exists()


def test_two_copy_number_findings_of_one_gene_are_both_kept(nurse, collected):
    cnv = {"gene": "ERBB2", "protein_change": "", "vaf_percent": None}
    result = result_record(
        actor=nurse, draw=collected, reported_on=TODAY, status="final",
        variants=[cnv | {"reported_text": "amplification"}, cnv | {"reported_text": "exon 20"}],
    )  # fmt: skip
    assert sorted(result.variants.values_list("reported_text", flat=True)) == [
        "amplification", "exon 20",
    ]  # fmt: skip


def test_a_gene_is_still_required_unless_the_lab_described_the_finding(nurse, collected):
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="final",
            variants=[{"gene": "", "protein_change": "D538G", "vaf_percent": "1"}],
        )  # fmt: skip
    (error,) = row_errors(excinfo)
    assert error.field == "gene"

    result = result_record(
        actor=nurse, draw=collected, reported_on=TODAY, status="final",
        variants=[{"gene": "", "protein_change": "", "reported_text": "Haplotype CYP2D6 *2"}],
    )  # fmt: skip
    (stored,) = result.variants.all()
    assert (stored.gene, stored.reported_text, stored.esr1_vus) == (
        "",
        "Haplotype CYP2D6 *2",
        False,
    )


def test_duplicate_variant_in_one_result_is_refused(nurse, collected):
    with pytest.raises(ValidationError) as excinfo:
        result_record(
            actor=nurse, draw=collected, reported_on=TODAY, status="final",
            variants=[variant("ESR1", "D538G", "0.4"), variant("esr1", "p.Asp538Gly", "0.5")],
        )  # fmt: skip
    (error,) = row_errors(excinfo)
    assert (error.index, error.field) == (1, "protein_change")
    assert "already listed as variant 1" in error.detail


def test_second_result_for_a_draw_is_a_draw_error(nurse, collected):
    result_record(actor=nurse, draw=collected, reported_on=TODAY, status="final")
    with pytest.raises(ValidationError) as excinfo:
        result_record(actor=nurse, draw=collected, reported_on=TODAY, status="final")
    assert "already has a result" in errors_of(excinfo)["draw"][0]
    assert Result.objects.count() == 1


def test_second_result_race_lost_to_the_constraint_is_a_draw_error(nurse, collected, monkeypatch):
    ResultFactory(draw=collected)  # saved by a concurrent request; the draw not yet updated
    monkeypatch.setattr(records, "_result_draw_error", lambda draw: None)
    with pytest.raises(ValidationError) as excinfo:
        result_record(actor=nurse, draw=collected, reported_on=TODAY, status="final")
    assert "draw" in errors_of(excinfo)
    assert Result.objects.count() == 1


@pytest.mark.parametrize(
    ("status", "message"), [("planned", "not been collected"), ("cancelled", "was cancelled")]
)
def test_results_need_a_collected_draw(nurse, patient, status, message):
    if status == "planned":
        draw = DrawFactory(
            patient=patient, status="planned", due_date=TODAY, collected_on=None, assay="",
            accession="",
        )  # fmt: skip
    else:
        draw = DrawFactory(patient=patient, status="cancelled")
    with pytest.raises(ValidationError) as excinfo:
        result_record(actor=nurse, draw=draw, reported_on=TODAY, status="final")
    assert message in errors_of(excinfo)["draw"][0]


@pytest.mark.parametrize(
    ("reported_on", "message"),
    [(days(-21), "before the sample was collected"), (days(1), "in the future"),
     (None, "Give the date")],
)  # fmt: skip
def test_report_date_lies_between_collection_and_today(nurse, collected, reported_on, message):
    with pytest.raises(ValidationError) as excinfo:
        result_record(actor=nurse, draw=collected, reported_on=reported_on, status="final")
    assert message in errors_of(excinfo)["reported_on"][0]


def test_report_on_the_collection_day_is_fine(nurse, collected):
    assert result_record(actor=nurse, draw=collected, reported_on=days(-20), status="final")


def test_unknown_result_status_is_refused(nurse, collected):
    with pytest.raises(ValidationError) as excinfo:
        result_record(actor=nurse, draw=collected, reported_on=TODAY, status="pending")
    assert "status" in errors_of(excinfo)


def test_result_record_audits_the_user_and_marks_the_patient(oncologist, collected):
    assert not PendingEvaluation.objects.filter(patient=collected.patient).exists()
    result = result_record(
        actor=oncologist, draw=collected, reported_on=TODAY, status="final",
        variants=[variant()],
    )  # fmt: skip

    assert last_event(Result, result.pk).pgh_context.metadata["user"] == oncologist.pk
    variant_id = result.variants.get().pk
    assert last_event(Variant, variant_id).pgh_context.metadata["user"] == oncologist.pk
    draw_event = last_event(Draw, collected.pk)
    assert (draw_event.status, draw_event.pgh_context.metadata["user"]) == (
        "resulted", oncologist.pk,
    )  # fmt: skip
    assert PendingEvaluation.objects.filter(patient=collected.patient).exists()


def test_only_clinical_roles_record_results(admin_user, collected):
    with pytest.raises(PermissionDenied):
        result_record(actor=admin_user, draw=collected, reported_on=TODAY, status="final")

"""The audit trail is evidence: complete, append-only, readable and exportable by admins."""

import csv
import io
import json
from datetime import date, timedelta

import pghistory
import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from pghistory.models import Events

from config.csv_export import csv_safe
from patients import services as patient_services
from patients.models import Appointment, PatientAccess
from patients.selectors import log_patient_access
from surveillance import services as surveillance_services
from tests.factories import TODAY, AppointmentFactory, PatientFactory, days

pytestmark = pytest.mark.django_db

CHANGES = "/admin/pghistory/events/"
ACCESSES = "/admin/patients/patientaccess/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def superuser_client(client, django_user_model):
    root = django_user_model.objects.create_superuser(
        "root", "root@example.org", "a-long-test-passphrase", role="admin"
    )
    client.force_login(root)
    return client


def export(client, url: str, query: str = "") -> list[dict]:
    response = client.get(f"{url}export.csv{query}")
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- Append-only at the database ---------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE patients_patientevent SET given_name = 'forged'",
        "DELETE FROM patients_patientevent",
        "UPDATE patients_patientaccess SET view = 'forged'",
        "DELETE FROM patients_patientaccess",
    ],
)
def test_audit_tables_refuse_update_and_delete_in_raw_sql(statement, nurse):
    patient = PatientFactory()
    log_patient_access(user=nurse, patient=patient, view="page:patient")

    with (
        pytest.raises(DatabaseError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)

    assert patient.events.count() == 1
    assert PatientAccess.objects.get().view == "page:patient"


def test_access_log_rows_cannot_be_changed_through_the_orm(nurse):
    log_patient_access(user=nurse, patient=PatientFactory(), view="page:patient")

    with pytest.raises(DatabaseError), transaction.atomic():
        PatientAccess.objects.update(view="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        PatientAccess.objects.all().delete()


def test_deleting_a_clinical_row_is_recorded_with_its_last_values_and_user(nurse):
    appointment = AppointmentFactory(date=days(12), note="bring previous scans")
    appointment_id = appointment.pk

    with pghistory.context(user=nurse.pk):
        Appointment.objects.filter(pk=appointment_id).delete()

    (deleted,) = appointment.events.filter(pgh_label="delete")
    assert deleted.pgh_obj_id == appointment_id
    assert (deleted.date, deleted.note) == (days(12), "bring previous scans")
    assert deleted.pgh_context.metadata["user"] == nurse.pk


# --- Nobody edits the audit in the admin -------------------------------------------------


def test_even_a_superuser_cannot_add_change_or_delete_an_access_row(superuser_client, nurse):
    log_patient_access(user=nurse, patient=PatientFactory(), view="page:patient")
    access = PatientAccess.objects.get()
    change, delete = f"{ACCESSES}{access.pk}/change/", f"{ACCESSES}{access.pk}/delete/"

    assert superuser_client.get(ACCESSES).status_code == 200
    assert superuser_client.get(f"{ACCESSES}add/").status_code == 403
    superuser_client.post(change, {"view": "forged"})
    assert superuser_client.get(delete).status_code == 403
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403

    assert PatientAccess.objects.get().view == "page:patient"


def test_even_a_superuser_cannot_add_or_change_a_change_event(superuser_client, nurse):
    with pghistory.context(user=nurse.pk):
        patient = PatientFactory()
    (event,) = patient.events.all()
    slug = f"patients.PatientEvent:{event.pgh_id}"

    assert superuser_client.get(CHANGES).status_code == 200
    assert superuser_client.get(f"{CHANGES}add/").status_code == 403
    superuser_client.post(f"{CHANGES}{slug}/change/", {"pgh_label": "forged"})
    assert superuser_client.post(f"{CHANGES}{slug}/delete/", {"post": "yes"}).status_code in (
        403, 404,
    )  # fmt: skip

    assert list(patient.events.values_list("pgh_label", flat=True)) == ["insert"]


def _request_for(client):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    return request


def test_event_admin_grants_no_write_permission_even_to_a_superuser(superuser_client):
    from django.contrib import admin
    from pghistory.models import Events

    request = _request_for(superuser_client)
    events_admin = admin.site._registry[Events]
    access_admin = admin.site._registry[PatientAccess]
    for model_admin in (events_admin, access_admin):
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert model_admin.has_view_permission(request)
        assert model_admin.get_actions(request) == {}


# --- Administrators read and filter both logs --------------------------------------------


def _history(oncologist, nurse):
    """Two patients with changes by two users, and record views by both."""
    ann = patient_services.patient_create(
        actor=oncologist, mrn="AUD-1", given_name="Ann", family_name="Audit",
        birth_date=date(1960, 3, 1), sex="female", er_status="positive",
        pr_status="positive", her2_status="negative", oncologist=oncologist,
        metastatic_diagnosis_date=days(-90),
    )  # fmt: skip
    bea = PatientFactory(mrn="AUD-2", oncologist=oncologist)
    patient_services.appointment_create(actor=nurse, patient=ann, date=days(5), kind="clinic")
    draw = surveillance_services.draw_record(
        actor=nurse, patient=ann, collected_on=days(-1), assay="guardant360_cdx",
        accession="G360-AUD",
    )  # fmt: skip
    surveillance_services.result_record(
        actor=nurse, draw=draw, reported_on=TODAY, status="final",
        variants=[{"gene": "ESR1", "protein_change": "D538G", "vaf_percent": "0.5"}],
    )  # fmt: skip
    patient_services.appointment_create(actor=nurse, patient=bea, date=days(6), kind="imaging")
    log_patient_access(user=nurse, patient=ann, view="page:patient")
    log_patient_access(user=oncologist, patient=bea, view="api:patient_detail")
    return ann, bea


def test_administrator_filters_the_change_history_by_patient_and_sees_every_kind_of_row(
    admin_client, oncologist, nurse
):
    ann, bea = _history(oncologist, nurse)

    rows = export(admin_client, CHANGES, f"?patient={ann.mrn}")

    models = {row["model"] for row in rows}
    assert models >= {
        "patients.Patient", "patients.Appointment", "surveillance.Draw",
        "surveillance.Result", "surveillance.Variant",
    }  # fmt: skip
    patient_rows = {row["object_id"] for row in rows if row["model"] == "patients.Patient"}
    assert patient_rows == {str(ann.pk)}
    draw_rows = {row["object_id"] for row in rows if row["model"] == "surveillance.Draw"}
    assert draw_rows == {str(pk) for pk in ann.draws.values_list("pk", flat=True)}
    # The same patient by id, and the page itself.
    assert len(export(admin_client, CHANGES, f"?patient={ann.pk}")) == len(rows)
    page = admin_client.get(CHANGES, {"patient": ann.mrn})
    assert page.status_code == 200
    assert b"Export CSV" in page.content


def test_change_history_by_user_names_the_author(admin_client, oncologist, nurse):
    _history(oncologist, nurse)

    rows = export(admin_client, CHANGES, "?user=nurse")

    assert rows and {row["user"] for row in rows} == {"nurse"}
    assert {"patients.Appointment", "surveillance.Draw"} <= {row["model"] for row in rows}
    assert "patients.Patient" not in {row["model"] for row in rows}


def test_change_history_names_the_fields_an_update_changed_never_the_values(
    admin_client, oncologist, nurse
):
    ann, _ = _history(oncologist, nurse)
    patient_services.patient_update(actor=oncologist, patient=ann, status="deceased")

    page = admin_client.get(CHANGES, {"patient": ann.mrn, "user": "onc", "label": "update"})

    html = page.content.decode()
    assert "status" in html and "deceased" not in html
    (row,) = export(admin_client, CHANGES, f"?patient={ann.mrn}&user=onc&label=update")
    assert (row["user"], row["event"], row["model"]) == ("onc", "update", "patients.Patient")
    assert row["object_id"] == str(ann.pk)
    assert "status" in row["changed_fields"].split()
    assert "deceased" not in json.dumps(row)


def test_change_history_by_date_range(admin_client, oncologist, nurse):
    _history(oncologist, nurse)
    # History rows are stamped by Postgres's own clock, which `--today` does not move.
    latest = Events.objects.order_by("-pgh_created_at").values_list("pgh_created_at", flat=True)
    today = timezone.localdate(latest[0])
    tomorrow = (today + timedelta(days=1)).isoformat()

    assert export(admin_client, CHANGES, f"?from={today.isoformat()}&to={today.isoformat()}")
    assert export(admin_client, CHANGES, f"?from={tomorrow}") == []
    assert export(admin_client, CHANGES, f"?to={(today - timedelta(days=1)).isoformat()}") == []


def test_an_unknown_user_or_patient_shows_nothing_and_says_so(admin_client, oncologist, nurse):
    _history(oncologist, nurse)

    page = admin_client.get(CHANGES, {"user": "nobody"}, follow=True)
    assert page.status_code == 200
    assert "No user is called" in page.content.decode()
    assert export(admin_client, CHANGES, "?user=nobody") == []
    assert export(admin_client, ACCESSES, "?patient=NO-SUCH-MRN") == []


def test_administrator_filters_the_access_log_and_exports_it(admin_client, oncologist, nurse):
    ann, bea = _history(oncologist, nurse)

    by_patient = export(admin_client, ACCESSES, f"?patient={ann.mrn}")
    by_user = export(admin_client, ACCESSES, "?user=onc")
    today = timezone.localdate().isoformat()
    by_day = export(admin_client, ACCESSES, f"?from={today}&to={today}")

    assert [(r["user"], r["mrn"], r["view"]) for r in by_patient] == [
        ("nurse", "AUD-1", "page:patient")
    ]
    assert [(r["user"], r["patient_id"]) for r in by_user] == [("onc", str(bea.pk))]
    assert len(by_day) == 2
    listing = admin_client.get(ACCESSES, {"user": "nurse", "patient": ann.pk})
    assert listing.status_code == 200
    assert "AUD-1" in listing.content.decode() and "AUD-2" not in listing.content.decode()


def test_a_numeric_mrn_is_an_mrn_and_hash_id_is_an_id(admin_client, nurse):
    first = PatientFactory(mrn="0000")
    numeric = PatientFactory(mrn=str(first.pk))  # an MRN that looks like the other's id
    for patient in (first, numeric):
        log_patient_access(user=nurse, patient=patient, view="page:patient")

    by_mrn = export(admin_client, ACCESSES, f"?patient={first.pk}")
    by_id = export(admin_client, ACCESSES, f"?patient=%23{first.pk}")

    assert [row["patient_id"] for row in by_mrn] == [str(numeric.pk)]
    assert [row["patient_id"] for row in by_id] == [str(first.pk)]


def test_export_link_keeps_the_filters(admin_client, oncologist, nurse):
    _history(oncologist, nurse)

    html = admin_client.get(ACCESSES, {"user": "nurse", "view": "page:patient"}).content.decode()

    assert f'href="{ACCESSES}export.csv?user=nurse&amp;view=page%3Apatient"' in html


def test_export_needs_the_view_permission(client, oncologist, nurse):
    _history(oncologist, nurse)
    client.force_login(nurse)

    for url in (CHANGES, ACCESSES):
        response = client.get(f"{url}export.csv")
        assert response.status_code in (302, 403)
        assert not response.get("Content-Type", "").startswith("text/csv")


# --- CSV formula injection ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain note", "plain note"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_that_would_start_a_formula_are_made_text(value, cell):
    assert csv_safe(value) == cell


def test_exported_csv_neutralises_formulas_in_stored_values(admin_client, oncologist, nurse):
    patient = PatientFactory(mrn="=CMD|' /C calc'!A0")
    log_patient_access(user=nurse, patient=patient, view="page:patient")
    with pghistory.context(user=nurse.pk):
        AppointmentFactory(patient=patient, note="@SUM(1+1)")

    (access,) = export(admin_client, ACCESSES)
    assert access["mrn"] == "'=CMD|' /C calc'!A0"
    events = export(admin_client, CHANGES, f"?patient={patient.pk}")
    assert events and all(not row[key].startswith(("=", "+", "-", "@"))
                          for row in events for key in row)  # fmt: skip


# --- Administrators never read clinical values; reading the audit trail is logged ---------


def test_the_change_history_and_its_export_show_no_clinical_value(admin_client, oncologist, nurse):
    ann, _ = _history(oncologist, nurse)
    patient_services.patient_update(
        actor=oncologist, patient=ann, given_name="Annabel", high_tumour_burden=True
    )
    patient_services.appointment_create(
        actor=nurse, patient=ann, date=days(9), kind="clinic", note="Lives with her sister"
    )
    secrets = ["Annabel", "1960-03-01", "sister", "D538G", "p.Asp538Gly", "G360-AUD"]

    pages = [
        admin_client.get(CHANGES, {"patient": ann.mrn}).content.decode(),
        admin_client.get(CHANGES, {"obj": f"patients.Patient:{ann.pk}"}).content.decode(),
        json.dumps(export(admin_client, CHANGES, f"?patient={ann.mrn}")),
        json.dumps(export(admin_client, CHANGES)),
    ]

    for text in pages:
        assert [word for word in secrets if word in text] == []
    assert "given_name, high_tumour_burden" in pages[0]  # the names of the fields only
    event = ann.events.order_by("pgh_id").first()
    detail = admin_client.get(f"{CHANGES}patients.PatientEvent:{event.pgh_id}/change/")
    assert detail.status_code in (302, 403, 404)
    assert "Annabel" not in detail.content.decode()


def test_reading_or_exporting_the_audit_trail_is_itself_logged(admin_client, admin_user, nurse):
    from patients.models import AuditTrailRead

    log_patient_access(user=nurse, patient=PatientFactory(), view="page:patient")

    admin_client.get(CHANGES, {"user": "nurse"})
    export(admin_client, CHANGES, "?user=nurse")
    admin_client.get(ACCESSES)
    export(admin_client, ACCESSES, "?patient=%231")

    reads = AuditTrailRead.objects.order_by("at", "id").values_list("user", "view", "query")
    assert list(reads) == [
        (admin_user.pk, "change-history", "user=nurse"),
        (admin_user.pk, "change-history:export", "user=nurse"),
        (admin_user.pk, "record-access", ""),
        (admin_user.pk, "record-access:export", "patient=%231"),
    ]
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditTrailRead.objects.update(view="forged")

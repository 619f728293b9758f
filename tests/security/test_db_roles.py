"""The database protects the audit: the application's own connection cannot alter it, even
with the append-only triggers switched off (SPEC section 1; config/dbroles.py)."""

import pghistory
import pgtrigger
import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from pghistory.models import Context
from rest_framework.test import APIClient

from config import dbroles
from patients import services as patient_services
from patients.models import AuditTrailRead, Patient, PatientAccess
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT_TABLES = {
    "patients_patientevent": "given_name",
    "pghistory_context": "metadata",
    PatientAccess._meta.db_table: "view",
    AuditTrailRead._meta.db_table: "view",
}


@pytest.fixture
def as_app():
    """The default connection as the running application makes it; the owner again after."""
    dbroles.connect_as_app()
    yield
    dbroles.connect_as_owner()


def _all_triggers_ignored() -> str:
    names = sorted({trigger.get_pgid(model) for model, trigger in pgtrigger.registered()})
    return "{" + ",".join(names) + "}"


def _one(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_the_application_connects_as_its_restricted_role(as_app):
    (user,) = _one("SELECT current_user")

    assert user == settings.DATABASE_ROLES["app_role"]
    assert set(AUDIT_TABLES) <= set(dbroles.audit_tables())


@pytest.mark.parametrize("table", sorted(AUDIT_TABLES))
@pytest.mark.parametrize(
    "statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}", "TRUNCATE {t}"]
)
def test_with_the_triggers_ignored_the_application_still_cannot_alter_the_audit(
    as_app, oncologist, table, statement
):
    PatientFactory()  # history rows to alter
    sql = statement.format(t=table, c=AUDIT_TABLES[table])

    with transaction.atomic():
        _one("SELECT set_config('pgtrigger.ignore', %s, true)", [_all_triggers_ignored()])
        refused = pytest.raises(DatabaseError, match="permission denied")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_the_owner_can_what_the_application_cannot(oncologist):
    """The check above fails for the privileges, not for something else in the statement."""
    PatientFactory()

    with transaction.atomic():
        _one("SELECT set_config('pgtrigger.ignore', %s, true)", [_all_triggers_ignored()])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE patients_patientevent SET given_name = given_name")
            assert cursor.rowcount >= 1
        transaction.set_rollback(True)


def test_the_application_still_writes_reads_and_is_audited(as_app, oncologist):
    with pghistory.context(user=oncologist.pk), pghistory.context(note="clinic"):
        patient = PatientFactory()
        patient_services.patient_update(actor=oncologist, patient=patient, status="deceased")
    client = APIClient()
    client.force_authenticate(oncologist)

    assert client.get(f"/api/v1/patients/{patient.pk}/").status_code == 200

    labels = list(patient.events.order_by("pgh_id").values_list("pgh_label", flat=True))
    assert labels == ["insert", "update"]
    assert PatientAccess.objects.filter(patient=patient, user=oncologist).count() == 1
    assert Patient.objects.get(pk=patient.pk).status == "deceased"


def test_an_old_context_cannot_be_rewritten_through_the_context_function(as_app, oncologist):
    with pghistory.context(user=oncologist.pk):
        patient = PatientFactory()
    context = Context.objects.get(pk=patient.events.get().pgh_context_id)

    with transaction.atomic():
        _one("SELECT set_config('pghistory.context_id', %s, true)", [str(context.id)])
        _one("SELECT set_config('pghistory.context_metadata', %s, true)", ['{"user": 999}'])
        _one("SELECT _pgh_attach_context()")

    context.refresh_from_db()
    assert context.metadata == {"user": oncologist.pk}


def test_with_two_urls_migrate_creates_the_login_role_the_application_then_uses(tmp_path):
    """docker compose's way: DATABASE_OWNER_URL for migrate, DATABASE_URL the app's own login
    role, which the migrate creates (with that password) and which cannot escape to the
    owner."""
    import os
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    import psycopg

    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    server = f"postgres://{db['USER']}@{host}"
    name, role = f"esr1_tworoles_{uuid.uuid4().hex[:8]}", f"esr1_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    root = Path(__file__).resolve().parents[2]
    env = dict(
        os.environ,
        DATABASE_OWNER_URL=f"{server}/{name}",
        DATABASE_URL=f"postgres://{role}:app-pw@{host}/{name}",
        DEBUG="false",
    )
    probe = (
        "from django.db import connection\n"
        "c = connection.cursor()\n"
        "c.execute('select current_user'); print('user', c.fetchone()[0])\n"
        "for sql in ['DELETE FROM patients_patientaccess', 'SET ROLE postgres']:\n"
        "    try:\n"
        "        c.execute(sql); print('allowed', sql)\n"
        "    except Exception as exc:\n"
        "        print('refused', sql, type(exc).__name__)\n"
    )
    try:
        manage = [sys.executable, "manage.py"]
        run = {"capture_output": True, "text": True, "env": env, "cwd": root, "timeout": 600}
        migrated = subprocess.run([*manage, "migrate", "-v0"], **run)
        assert migrated.returncode == 0, migrated.stderr
        probed = subprocess.run([*manage, "shell", "-c", probe], **run)
        assert probed.returncode == 0, probed.stderr
        assert f"user {role}" in probed.stdout
        assert "refused DELETE FROM patients_patientaccess" in probed.stdout
        assert "refused SET ROLE postgres" in probed.stdout
        assert "allowed" not in probed.stdout
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')

"""Indexes for the name/MRN search of the patient list and the patients API.

Where Postgres has the pg_trgm extension (docker compose's does) it is created and each
searched column gets a trigram GIN index on UPPER(column), the expression Django's
case-insensitive `icontains` compares: "any part of the MRN or name" is then an index
lookup. Every server also gets a btree index of UPPER(column) for prefix matching, which is
what the search falls back to where pg_trgm is not available (the embedded Postgres):
patients.search decides by whether the trigram indexes exist.
"""

from django.db import migrations

COLUMNS = ("mrn", "given_name", "family_name")


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for column in COLUMNS:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS patient_{column}_prefix_idx ON patients_patient "
                f"(UPPER({column}::text) text_pattern_ops)"
            )
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is not None:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for column in COLUMNS:
                cursor.execute(
                    f"CREATE INDEX IF NOT EXISTS patient_{column}_trgm_idx ON patients_patient "
                    f"USING gin (UPPER({column}::text) gin_trgm_ops)"
                )
        # Statistics of the new expressions, so the first searches are planned on them.
        cursor.execute("ANALYZE patients_patient")


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for column in COLUMNS:
            cursor.execute(f"DROP INDEX IF EXISTS patient_{column}_trgm_idx")
            cursor.execute(f"DROP INDEX IF EXISTS patient_{column}_prefix_idx")


class Migration(migrations.Migration):
    dependencies = [("patients", "0009_access_path_audit_reads")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

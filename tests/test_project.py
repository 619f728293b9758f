import io
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_models_and_migrations_are_in_step():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_apps_depend_one_way(monkeypatch, capsys):
    """The import-linter contracts of pyproject.toml (also run by make test and make lint)."""
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)
    exit_code = lint_imports(no_cache=True, no_logo=True)
    assert exit_code == 0, capsys.readouterr().out


def test_api_schema_is_valid_and_lists_the_token_endpoint():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert "/api/v1/auth/token/" in schema["paths"]


@pytest.mark.django_db
def test_api_docs_page_loads_nothing_from_another_host(client, nurse):
    client.force_login(nurse)  # the docs are for signed-in users
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "//cdn" not in html and "https://" not in html.replace("https://swagger.io", "")


def test_docker_compose_file_is_accepted():
    import shutil
    import subprocess
    from pathlib import Path

    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed: apt-get install -y docker-compose"
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [binary, "-f", str(root / "docker-compose.yml"), "config", "--services"],
        capture_output=True,
        text=True,
        env={
            "SECRET_KEY": "compose-check",
            "POSTGRES_PASSWORD": "p",
            "APP_DB_PASSWORD": "a",
            "PATH": "/usr/bin:/bin",
        },
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    services = {"postgres", "redis", "migrate", "web", "worker", "beat", "hl7"}
    assert set(result.stdout.split()) == services


def test_openapi_schema_validates_without_warnings(tmp_path):
    # --fail-on-warn turns any schema warning (unknown field type, enum clash) into an error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    schema = (tmp_path / "schema.yml").read_text()
    for path in [
        "/api/v1/patients/{id}/timeline/", "/api/v1/treatments/", "/api/v1/assessments/",
        "/api/v1/appointments/", "/api/v1/draws/", "/api/v1/results/",
        "/api/v1/alerts/{id}/resolve/", "/api/v1/worklist/", "/api/v1/imports/fhir/",
        "/api/v1/imports/hl7v2/", "/api/v1/imports/csv/", "/api/v1/imports/{id}/match/",
    ]:  # fmt: skip
        assert f"  {path}:" in schema, path

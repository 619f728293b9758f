"""`manage.py run_surveillance [--as-of YYYY-MM-DD] [--full]` (SPEC section 6): runs the engine
and prints its counts; a patient whose evaluation fails is counted, not fatal (SPEC 5.8)."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from surveillance import rules
from surveillance.models import Alert
from tests.conftest import ROOT, _test_database_url
from tests.factories import (
    TODAY,
    esr1_positive_patients,
)

COUNTS = "eligible {}, planned {}, opened {}, resolved {}"


def run_surveillance(*args) -> list[str]:
    out = StringIO()
    call_command("run_surveillance", "--as-of", TODAY.isoformat(), *args, stdout=out)
    return out.getvalue().splitlines()


def failing_for(monkeypatch, doomed: set[int]) -> None:
    evaluate = rules.evaluate

    def failing(patient, **kwargs):
        if patient.id in doomed:
            raise ValueError("unreadable record")
        return evaluate(patient, **kwargs)

    monkeypatch.setattr(rules, "evaluate", failing)


@pytest.mark.django_db
def test_the_last_line_reads_like_the_spec():
    esr1_positive_patients(3)
    lines = run_surveillance()
    assert lines == [
        f"full run for {TODAY.isoformat()} (no full run yet): 3 of 3 patients",
        "evaluated 3 patients",
        COUNTS.format(3, 3, 3, 0),
    ]


@pytest.mark.django_db
def test_a_full_run_straight_after_a_run_for_the_same_date_opens_and_resolves_nothing():
    esr1_positive_patients(3)
    first = run_surveillance()
    assert first[-1] == COUNTS.format(3, 3, 3, 0)
    opened = set(Alert.objects.values_list("id", "status", "updated_at"))
    assert run_surveillance("--full")[-1] == COUNTS.format(3, 3, 0, 0)
    assert set(Alert.objects.values_list("id", "status", "updated_at")) == opened


def test_the_help_says_what_full_does(capsys):
    with pytest.raises(SystemExit):
        call_command("run_surveillance", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--full" in text and "evaluate every patient" in text
    assert "only the patients whose verdict may have changed" in text


@pytest.mark.django_db
def test_one_failing_patient_is_counted_and_the_run_succeeds(monkeypatch, caplog):
    ids = esr1_positive_patients(3)
    failing_for(monkeypatch, {ids[1]})
    lines = run_surveillance()
    assert lines[1:] == ["evaluated 2 patients", COUNTS.format(2, 2, 2, 0) + ", failed 1"]
    assert f"patient {ids[1]} failed" in caplog.text


@pytest.mark.django_db
def test_when_every_patient_fails_the_command_fails_with_one_line(monkeypatch):
    ids = esr1_positive_patients(2)
    failing_for(monkeypatch, set(ids))
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("run_surveillance", "--as-of", TODAY.isoformat(), stdout=out)
    assert out.getvalue().splitlines()[-1] == COUNTS.format(0, 0, 0, 0) + ", failed 2"
    assert "\n" not in str(failed.value) and "every patient" in str(failed.value)


@pytest.mark.django_db
def test_no_patients_is_not_a_failure():
    assert run_surveillance()[-1] == COUNTS.format(0, 0, 0, 0)


# --- The exit status, from the real command line ---------------------------------------------


def corrupt(patient_id: int) -> None:
    """A decided ESR1 alert whose covered results are a number, not a list."""
    Alert.objects.create(
        patient_id=patient_id, kind="esr1_switch", severity="high", status="resolved",
        title="ESR1", rationale="-", result_ids=5, policy_version=1, decision="dismissed",
        resolved_at=timezone.now(), note="entered by hand",
    )  # fmt: skip


def manage_run_surveillance() -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=_test_database_url())
    return subprocess.run(
        [sys.executable, "manage.py", "run_surveillance", "--as-of", TODAY.isoformat(), "--full"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_exit_status_is_zero_unless_every_patient_failed():
    ids = esr1_positive_patients(2)
    corrupt(ids[0])
    one_failed = manage_run_surveillance()
    assert one_failed.returncode == 0, one_failed.stderr[-2000:]
    assert one_failed.stdout.splitlines()[-1] == COUNTS.format(1, 1, 1, 0) + ", failed 1"
    assert f"patient {ids[0]} failed" in one_failed.stderr

    corrupt(ids[1])
    all_failed = manage_run_surveillance()
    assert all_failed.returncode != 0
    assert all_failed.stdout.splitlines()[-1] == COUNTS.format(0, 0, 0, 0) + ", failed 2"
    (message,) = [line for line in all_failed.stderr.splitlines() if "CommandError" in line]
    assert "every patient failed" in message

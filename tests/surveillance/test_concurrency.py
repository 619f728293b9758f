"""Several engine runs at once (beat, on-commit tasks, the CLI) never duplicate an alert."""

import os
import subprocess
import sys
from collections import Counter

import pytest

from surveillance.models import Alert, Draw
from tests.conftest import ROOT, _test_database_url
from tests.factories import (
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)


@pytest.mark.django_db(transaction=True)
def test_three_concurrent_cli_runs_create_no_duplicates():
    positives = []
    for i in range(40):
        patient = PatientFactory(enrolled_on=days(-300))
        TreatmentFactory(patient=patient, start_date=days(-150))
        draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-30 - i % 5))
        if i % 2 == 0:
            result = ResultFactory(draw=draw, reported_on=days(-20), esr1_status="detected")
            VariantFactory(result=result)
            positives.append(patient.id)
        else:
            ResultFactory(draw=draw, reported_on=days(-20))
    env = dict(os.environ, DATABASE_URL=_test_database_url())
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_surveillance"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip().splitlines()[-1].startswith("eligible 40, planned 40, opened ")

    # Between them the three runs opened each alert exactly once.
    opened = sum(int(out.split("opened ")[1].split(",")[0]) for out, _ in outputs)
    open_alerts = Counter(
        Alert.objects.filter(status="open").values_list("patient_id", "kind", "subject")
    )
    assert all(count == 1 for count in open_alerts.values())
    switch = sorted(p for (p, kind, _), _n in open_alerts.items() if kind == "esr1_switch")
    assert switch == sorted(positives)
    assert opened == sum(open_alerts.values())
    planned = Counter(Draw.objects.filter(status="planned").values_list("patient_id", flat=True))
    assert len(planned) == 40 and set(planned.values()) == {1}

"""A new policy version takes effect at once: the admin checks its numbers (errors beside the
fields), stores it as the next version, shows what changed from the version before, and a
full surveillance run is queued on commit, so the engine applies it without waiting for the
morning run."""

import time

import pytest

from surveillance import engine
from surveillance.models import Draw, SurveillancePolicy
from surveillance.services.policy import POLICY_FIELDS, policy_problems, policy_save
from tests.factories import (
    TODAY,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    days,
)

ADD = "/admin/surveillance/surveillancepolicy/add/"
LIST = "/admin/surveillance/surveillancepolicy/"


def form(**changes) -> dict:
    latest = SurveillancePolicy.objects.order_by("-version").first()
    return {**{f: getattr(latest, f) for f in POLICY_FIELDS}, "note": "clinic protocol", **changes}


@pytest.fixture
def admin_site(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"interval_standard_risk_days": 0}, "interval_standard_risk_days", "positive"),
        ({"first_draw_after_days": -5}, "first_draw_after_days", ""),
        ({"alignment_window_days": 100}, "alignment_window_days", "between 0 and 60"),
        ({"high_risk_min_sites": 0}, "high_risk_min_sites", "positive"),
        ({"interval_standard_risk_days": 840}, "interval_standard_risk_days", "between 1 and 365"),
        ({"interval_high_risk_days": 90}, "interval_high_risk_days", "at most 84 days"),
    ],
)
def test_the_admin_refuses_numbers_out_of_range_beside_the_field(admin_site, changes, field, words):
    response = admin_site.post(ADD, form(**changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert SurveillancePolicy.objects.count() == 1


@pytest.mark.django_db
def test_the_service_checks_the_same_ranges_for_any_caller(admin_user):
    from django.core.exceptions import ValidationError

    values = form(interval_high_risk_days=0, draw_overdue_after_days=500)
    assert set(policy_problems(values).fields) == {"interval_high_risk_days",
                                                   "draw_overdue_after_days"}  # fmt: skip
    with pytest.raises(ValidationError):
        policy_save(actor=admin_user, values=values)
    assert SurveillancePolicy.objects.count() == 1


@pytest.mark.django_db
def test_a_nurse_may_not_save_a_policy(nurse):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        policy_save(actor=nurse, values=form(interval_standard_risk_days=70))


@pytest.mark.django_db
def test_a_save_is_a_new_version_showing_what_changed(
    admin_site, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = admin_site.post(ADD, form(interval_standard_risk_days=70, switch_scan_days=56))
    assert response.status_code == 302
    assert len(queued) == 1, "saving a version queues exactly one full run"
    v1, v2 = SurveillancePolicy.objects.order_by("version")
    assert (v2.version, v2.interval_standard_risk_days, v2.created_by) == (2, 70, admin_user)
    assert v1.interval_standard_risk_days == 84  # the old version is kept as it was

    listing = admin_site.get(LIST).content.decode()
    assert "interval standard risk days: 84 \u2192 70" in listing
    assert "switch scan days: 42 \u2192 56" in listing
    assert "first version" in listing
    page = admin_site.get(f"{LIST}{v2.pk}/change/").content.decode()
    assert "interval standard risk days: 84 \u2192 70" in page
    # The add form starts from the version in force.
    assert 'name="interval_standard_risk_days" value="70"' in admin_site.get(ADD).content.decode()


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_engine_applies_a_new_version_at_once(celery_worker_process, client, admin_user):
    """A standard-risk patient's next draw is due 84 days after the last one; after the
    administrator saves a 70-day interval, the worker's full run moves it, with nothing
    else changing the patient's record."""
    patient = PatientFactory(enrolled_on=days(-120))
    TreatmentFactory(patient=patient, start_date=days(-100))
    last = DrawFactory(patient=patient, status="resulted", collected_on=days(-30))
    ResultFactory(draw=last, reported_on=days(-25))
    engine.run_all(today=TODAY)
    planned = Draw.objects.get(patient=patient, status="planned")
    assert planned.due_date == days(-30 + 84)

    client.force_login(admin_user)
    response = client.post(ADD, form(interval_standard_risk_days=70))
    assert response.status_code == 302

    def moved():
        return Draw.objects.get(pk=planned.pk).due_date == days(-30 + 70)

    assert wait_for(moved), "the full run did not apply the new interval within 30 s"
    assert engine.current_policy().interval_standard_risk_days == 70

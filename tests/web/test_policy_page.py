"""The policy page: the policy in force in plain words, who saved it and when, its note, and
every earlier version, for clinicians and administrators."""

import pytest

from surveillance.models import SurveillancePolicy

pytestmark = pytest.mark.django_db


def save_v2(client, admin_user, **changes):
    """Save a new version the way an administrator does, in the admin."""
    client.force_login(admin_user)
    v1 = SurveillancePolicy.objects.get(version=1)
    form = {
        f.name: getattr(v1, f.name)
        for f in SurveillancePolicy._meta.concrete_fields
        if f.name not in ("id", "version", "created_at", "created_by")
    }
    form.update(changes)
    response = client.post("/admin/surveillance/surveillancepolicy/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return SurveillancePolicy.objects.get(version=2)


@pytest.mark.parametrize("role", ["oncologist", "nurse", "admin_user"])
def test_the_policy_in_force_in_plain_words(client, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get("/policy/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Surveillance policy v1" in html and "In force" in html
    assert "by the system (initial set-up)" in html
    assert "Note: Starting defaults of the surveillance programme" in html
    for words in (
        "56 days after first-line AI + CDK4/6 inhibitor starts",
        "Every 56 days, counted from the last collected draw",
        "Every 84 days, counted from the last collected draw",
        "14 days after the failed result is reported",
        "182 days or more on first-line AI + CDK4/6 inhibitor",
        "3 or more metastatic sites",
        "ESR1 mutation on first-line AI + CDK4/6 inhibitor before progression",
        "E380Q, V422del, S463P, L469V, L536H, L536P, L536Q, L536R, Y537C, Y537D, Y537N,"
        " Y537S, D538G, E542K",
    ):
        assert words in html, words
    assert '<a href="/policy/">Policy</a>' in html or 'aria-current="page">Policy</a>' in html


def test_a_new_version_is_in_force_and_the_earlier_one_is_listed(client, admin_user, oncologist):
    save_v2(client, admin_user, interval_standard_risk_days=70, note="Standard risk every 10 weeks")
    client.force_login(oncologist)

    html = client.get("/policy/").content.decode()
    assert "Surveillance policy v2" in html
    assert "saved " in html and "by Lee Admin" in html
    assert "Note: Standard risk every 10 weeks" in html
    assert "Every 70 days, counted from the last collected draw" in html
    assert "(v1: every 84 days, counted from the last collected draw)" in html
    assert '<a href="/policy/v1/">v1</a>' in html

    html = client.get("/policy/v1/").content.decode()
    assert "Surveillance policy v1" in html and "Not in force" in html
    assert 'replaced by <a href="/policy/v2/">v2</a>' in html
    assert "Every 84 days, counted from the last collected draw" in html
    assert "(v1:" not in html


def test_a_version_that_does_not_exist_is_404(client, nurse):
    client.force_login(nurse)
    assert client.get("/policy/v9/").status_code == 404
    assert client.get("/policy/v0/").status_code == 404


def test_signed_out_users_are_sent_to_sign_in(client):
    response = client.get("/policy/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")

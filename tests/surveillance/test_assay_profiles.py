"""Assay profiles: each assay's limit of reliable detection, kept by administrators in the
admin, audited like the other models, starting from values the laboratory is to confirm."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from surveillance.models import Assay, AssayProfile

pytestmark = pytest.mark.django_db

URL = "/admin/surveillance/assayprofile/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_every_assay_has_a_profile_with_a_starting_limit_not_yet_confirmed():
    profiles = {p.code: p for p in AssayProfile.objects.all()}
    assert set(profiles) == set(Assay.values)
    assert profiles["guardant360_cdx"].limit_of_detection_pct == Decimal("0.2")
    assert profiles["foundationone_liquid_cdx"].limit_of_detection_pct == Decimal("0.4")
    assert profiles["ddpcr_esr1"].limit_of_detection_pct == Decimal("0.1")
    assert profiles["other"].limit_of_detection_pct is None
    assert not any(p.limit_confirmed for p in profiles.values())


def test_the_admin_page_tells_to_enter_the_laboratorys_validated_figure(admin_client):
    html = admin_client.get(f"{URL}guardant360_cdx/change/").content.decode()
    assert "own validation of the assay" in html
    assert "to be confirmed by the laboratory" in html


def test_an_administrator_enters_the_validated_limit_and_it_is_audited(admin_client, admin_user):
    response = admin_client.post(
        f"{URL}guardant360_cdx/change/",
        {"name": "Guardant360 CDx", "limit_of_detection_pct": "0.15", "limit_confirmed": "on"},
    )
    assert response.status_code == 302
    profile = AssayProfile.objects.get(code="guardant360_cdx")
    assert (profile.limit_of_detection_pct, profile.limit_confirmed) == (Decimal("0.15"), True)
    update = profile.events.order_by("pgh_id").last()
    assert update.pgh_label == "update"
    assert update.limit_of_detection_pct == Decimal("0.15")
    assert update.pgh_context.metadata["user"] == admin_user.pk


def test_profiles_are_neither_added_nor_deleted(admin_client):
    assert admin_client.get(f"{URL}add/").status_code == 403
    assert admin_client.get(f"{URL}ddpcr_esr1/delete/").status_code == 403


@pytest.mark.parametrize("role", ["oncologist", "nurse"])
def test_clinicians_do_not_edit_assay_profiles(client, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get(f"{URL}guardant360_cdx/change/")
    assert response.status_code in (302, 403)


@pytest.mark.parametrize("limit", [Decimal("0"), Decimal("-0.1"), Decimal("100.5")])
def test_a_limit_must_be_a_percentage_above_zero(limit):
    with pytest.raises(IntegrityError), transaction.atomic():
        AssayProfile.objects.filter(code="other").update(limit_of_detection_pct=limit)

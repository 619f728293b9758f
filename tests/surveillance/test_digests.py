import pytest
from django.core import mail

from surveillance import engine
from surveillance.digests import send_daily_digests
from tests.factories import (
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    UserFactory,
    VariantFactory,
    days,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic(make_user):
    onc = make_user("dr.a", "oncologist", email="a@clinic.example")
    quiet_onc = make_user("dr.b", "oncologist", email="b@clinic.example")
    nurse = make_user("nurse.c", "nurse", email="c@clinic.example")
    positive = PatientFactory(oncologist=onc, mrn="POS-1", family_name="Positive")
    TreatmentFactory(patient=positive, start_date=days(-120))
    draw = DrawFactory(patient=positive, status="resulted", collected_on=days(-9))
    VariantFactory(result=ResultFactory(draw=draw, reported_on=days(-2), esr1_status="detected"))
    overdue = PatientFactory(oncologist=quiet_onc, mrn="LATE-1", family_name="Late")
    TreatmentFactory(patient=overdue, start_date=days(-100))
    engine.run_all()
    return onc, quiet_onc, nurse


def test_one_digest_per_user_with_something_to_say(clinic):
    onc, quiet_onc, nurse = clinic
    result = send_daily_digests()
    assert result == {"sent": 2, "already_sent": 0}
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert set(by_recipient) == {"a@clinic.example", "c@clinic.example"}
    assert "1 open ESR1 alert" in by_recipient["a@clinic.example"].subject
    assert "POS-1" in by_recipient["a@clinic.example"].body
    assert "D538G" in by_recipient["a@clinic.example"].body
    nurse_mail = by_recipient["c@clinic.example"]
    assert "1 overdue" in nurse_mail.subject
    assert "LATE-1" in nurse_mail.body


def test_a_second_send_the_same_day_sends_nothing(clinic):
    send_daily_digests()
    mail.outbox.clear()
    assert send_daily_digests() == {"sent": 0, "already_sent": 2}
    assert mail.outbox == []


def test_nothing_to_say_means_no_mail(make_user):
    make_user("idle.nurse", "nurse", email="idle@clinic.example")
    UserFactory(username="idle.onc", email="io@clinic.example")
    assert send_daily_digests() == {"sent": 0, "already_sent": 0}
    assert mail.outbox == []

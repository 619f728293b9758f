"""The daily digest against a real SMTP server (aiosmtpd on 127.0.0.1) that can refuse: a
digest is marked sent only once the server has taken it, one refusal stops nobody else, the
retry delivers it once, racing runs send it once, and no message names a patient."""

import asyncio
import email
import email.policy
import logging
import socket
import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.db.models import F

from patients.models import PatientAccess
from surveillance import digests, engine
from surveillance.digests import CLAIM_TIMEOUT, retry_countdown, send_daily_digests
from surveillance.models import DigestSent, DigestState
from surveillance.tasks import send_digests
from tests.factories import (
    TODAY,
    DrawFactory,
    PatientFactory,
    ResultFactory,
    TreatmentFactory,
    VariantFactory,
    days,
)

SITE_URL = "https://esr1.clinic.example"
A, B, C, D = "a@clinic.example", "b@clinic.example", "c@clinic.example", "d@clinic.example"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler: keeps every message it accepts and refuses, at DATA, the
    recipients it is told to (always, or for their first N attempts)."""

    def __init__(self):
        self.received: list[email.message.EmailMessage] = []
        self.attempts: Counter[str] = Counter()
        self.refuse: set[str] = set()
        self.refuse_first: Counter[str] = Counter()
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        (recipient,) = envelope.rcpt_tos
        with self.lock:
            self.attempts[recipient] += 1
            refused = (
                recipient in self.refuse
                or self.attempts[recipient] <= (self.refuse_first[recipient])
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        if refused:
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(message)
        return "250 OK"

    def recipients(self) -> Counter[str]:
        return Counter(message["To"] for message in self.received)

    def by_recipient(self) -> dict[str, email.message.EmailMessage]:
        return {message["To"]: message for message in self.received}


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free port, and Django sending to it."""
    mailbox = Mailbox()
    # aiosmtpd logs every SMTP command at INFO; a failing test's output is about the digest.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.SITE_URL = SITE_URL
    yield mailbox
    controller.stop()
    server_log.setLevel(level)


@pytest.fixture
def clinic(make_user):
    """In user order: oncologist A and C with an ESR1-positive patient each, nurses B and D,
    and an oncologist with nothing to report; one draw overdue, one due within the week."""
    onc_a = make_user("dr.a", "oncologist", email=A)
    nurse_b = make_user("nurse.b", "nurse", email=B)
    onc_c = make_user("dr.c", "oncologist", email=C)
    nurse_d = make_user("nurse.d", "nurse", email=D)
    quiet = make_user("dr.quiet", "oncologist", email="quiet@clinic.example")
    make_user("nurse.nomail", "nurse")
    patients = [
        _positive(onc_a, "Winifred", "Abernathy", "QX-77031", date(1957, 11, 23), "D538G"),
        _positive(onc_c, "Philippa", "Castellanos", "QX-77032", date(1962, 4, 9), "Y537S"),
    ]
    late = PatientFactory(
        oncologist=quiet, given_name="Marguerite", family_name="Lindqvist", mrn="QX-77033",
        birth_date=date(1949, 8, 30),
    )  # fmt: skip
    TreatmentFactory(patient=late, start_date=days(-100))
    soon = PatientFactory(
        oncologist=quiet, given_name="Ottilie", family_name="Szczepanski", mrn="QX-77034",
        birth_date=date(1971, 2, 14), enrolled_on=days(-60),
    )  # fmt: skip
    TreatmentFactory(patient=soon, start_date=days(-52))
    engine.run_all()
    return {
        "users": (onc_a, nurse_b, onc_c, nurse_d),
        "patients": [*patients, late, soon],
        "positive": {onc_a.id: patients[0].id, onc_c.id: patients[1].id},
        "drawn": {late.id, soon.id},
    }


HGVS = {"D538G": "p.Asp538Gly", "Y537S": "p.Tyr537Ser"}


def _positive(oncologist, given, family, mrn, birth_date, variant):
    patient = PatientFactory(
        oncologist=oncologist, given_name=given, family_name=family, mrn=mrn,
        birth_date=birth_date,
    )  # fmt: skip
    TreatmentFactory(patient=patient, start_date=days(-120))
    draw = DrawFactory(patient=patient, status="resulted", collected_on=days(-9))
    result = ResultFactory(draw=draw, reported_on=days(-2), esr1_status="detected")
    VariantFactory(
        result=result, short=variant, protein_change=HGVS[variant], vaf_percent=Decimal("3.17")
    )
    return patient


def _text(message) -> str:
    """Everything a reader could see: the headers (but the random digits of Message-ID and the
    clock in Date, which the mail library writes), the raw body and every part decoded."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    parts = [p for p in parts if not p.startswith(("Message-ID:", "Date:"))]
    parts.append(message.as_string().split("\n\n", 1)[1])
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def _state(user) -> str | None:
    return DigestSent.objects.filter(user=user, day=TODAY).values_list("state", flat=True).first()


# --- What a digest says ------------------------------------------------------------------


@pytest.mark.django_db
def test_each_user_gets_counts_and_a_link_to_the_worklist(clinic, smtp):
    run = send_daily_digests(day=TODAY)

    assert run.as_dict() == {"sent": 4, "failed": 0, "skipped": 0}
    assert smtp.recipients() == Counter({A: 1, B: 1, C: 1, D: 1})
    mail = smtp.by_recipient()
    assert mail[A]["Subject"] == "ESR1 Watch: 1 open ESR1 alert for your patients"
    assert mail[B]["Subject"] == "ESR1 Watch: 1 draw due, 1 overdue"
    nurse_body = mail[B].get_body(("plain",)).get_content()
    assert "1 blood draw due in the next 7 days" in nurse_body
    assert "1 blood draw overdue" in nurse_body
    for message in mail.values():
        body = message.get_body(("plain",)).get_content()
        assert f"{SITE_URL}/" in body.split()
        assert "SPEC" not in _text(message)
    assert set(DigestSent.objects.values_list("state", flat=True)) == {DigestState.SENT}


@pytest.mark.django_db
def test_no_digest_names_a_patient_or_a_variant(clinic, smtp):
    send_daily_digests(day=TODAY)

    forbidden = {"3.17", *HGVS, *HGVS.values()}
    for patient in clinic["patients"]:
        born = patient.birth_date
        forbidden |= {
            patient.mrn, patient.given_name, patient.family_name, born.isoformat(),
            born.strftime("%d/%m/%Y"), born.strftime("%d.%m.%Y"), born.strftime("%m/%d/%Y"),
            f"{born.day} {born.strftime('%B')} {born.year}", born.strftime("%B %d, %Y"),
            born.strftime("%d %b %Y"),
        }  # fmt: skip
    assert len(smtp.received) == 4
    for message in smtp.received:
        seen = _text(message)
        assert [word for word in forbidden if word in seen] == []


@pytest.mark.django_db
def test_the_patients_a_digest_counted_are_logged_as_read_by_its_recipient(clinic, smtp):
    onc_a, nurse_b, onc_c, nurse_d = clinic["users"]

    send_daily_digests(day=TODAY)

    log = Counter(PatientAccess.objects.filter(view="digest").values_list("user_id", "patient_id"))
    expected = {(onc_a.id, clinic["positive"][onc_a.id]), (onc_c.id, clinic["positive"][onc_c.id])}
    expected |= {(nurse.id, p) for nurse in (nurse_b, nurse_d) for p in clinic["drawn"]}
    assert log == Counter(expected)
    assert not PatientAccess.objects.exclude(view="digest").exists()


@pytest.mark.django_db
def test_nothing_to_say_means_no_mail(make_user, smtp):
    make_user("idle.nurse", "nurse", email="idle@clinic.example")
    make_user("idle.onc", "oncologist", email="io@clinic.example")

    assert send_daily_digests(day=TODAY).as_dict() == {"sent": 0, "failed": 0, "skipped": 0}
    assert smtp.received == [] and sum(smtp.attempts.values()) == 0


# --- Failures and retries ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_refused_digest_is_not_marked_sent_and_the_users_after_it_still_get_theirs(clinic, smtp):
    onc_a, *others = clinic["users"]
    smtp.refuse = {A}

    run = send_daily_digests(day=TODAY)

    assert run.as_dict() == {"sent": 3, "failed": 1, "skipped": 0}
    assert run.retry_user_ids == [onc_a.id]
    assert smtp.recipients() == Counter({B: 1, C: 1, D: 1})
    claim = DigestSent.objects.get(user=onc_a, day=TODAY)
    assert (claim.state, claim.sent_at, claim.attempts) == (DigestState.FAILED, None, 1)
    assert "451" in claim.last_error
    assert [_state(user) for user in others] == [DigestState.SENT] * 3
    assert not PatientAccess.objects.filter(user=onc_a).exists()


@pytest.mark.django_db
def test_the_retry_delivers_a_refused_digest_once_and_a_later_run_sends_nothing(clinic, smtp):
    onc_a = clinic["users"][0]
    smtp.refuse_first[A] = 1  # the server refuses A's first attempt, then takes it

    # The task as beat sends it; run eagerly, its retry runs at once (countdown aside).
    result = send_digests.apply(kwargs={"day": TODAY.isoformat()})

    assert result.successful()
    # The retry carried A alone: the others were tried once, A twice, each received once.
    assert result.result == {"sent": 1, "failed": 0, "skipped": 0}
    assert smtp.attempts == Counter({A: 2, B: 1, C: 1, D: 1})
    assert smtp.recipients() == Counter({A: 1, B: 1, C: 1, D: 1})
    claim = DigestSent.objects.get(user=onc_a, day=TODAY)
    assert (claim.state, claim.attempts) == (DigestState.SENT, 2)
    assert PatientAccess.objects.filter(user=onc_a, view="digest").count() == 1

    again = send_digests.apply(kwargs={"day": TODAY.isoformat()})

    assert again.result == {"sent": 0, "failed": 0, "skipped": 4}
    assert len(smtp.received) == 4


@pytest.mark.django_db
def test_with_the_mail_server_down_nobody_is_marked_sent_and_the_retry_sends_all(
    clinic, smtp, settings
):
    up = settings.EMAIL_PORT
    settings.EMAIL_PORT = _free_port()  # nothing listens there

    down = send_daily_digests(day=TODAY)

    assert down.as_dict() == {"sent": 0, "failed": 4, "skipped": 0}
    assert sorted(down.retry_user_ids) == sorted(user.id for user in clinic["users"])
    assert not DigestSent.objects.filter(state=DigestState.SENT).exists()
    assert not PatientAccess.objects.exists()
    # After that many users in a row found no server, the rest wait for the retry untried.
    assert DigestSent.objects.count() == digests.UNREACHABLE_LIMIT

    settings.EMAIL_PORT = up
    back = send_daily_digests(day=TODAY, user_ids=down.retry_user_ids)

    assert back.as_dict() == {"sent": 4, "failed": 0, "skipped": 0}
    assert smtp.recipients() == Counter({A: 1, B: 1, C: 1, D: 1})


@pytest.mark.django_db
def test_a_claim_held_by_a_live_run_is_left_alone_and_an_abandoned_one_is_taken(clinic, smtp):
    onc_a = clinic["users"][0]
    token = digests._claim(user_id=onc_a.id, day=TODAY)  # another worker, mid-send
    assert token is not None

    held = send_daily_digests(day=TODAY)

    assert held.as_dict() == {"sent": 3, "failed": 0, "skipped": 1}
    assert (held.retry_user_ids, held.claimed_elsewhere) == ([onc_a.id], True)
    assert A not in smtp.recipients()

    # That worker was killed: once its claim is older than the timeout, the retry takes it.
    DigestSent.objects.filter(user=onc_a).update(
        claimed_at=F("claimed_at") - CLAIM_TIMEOUT - timedelta(seconds=1)
    )
    retry = send_daily_digests(day=TODAY, user_ids=held.retry_user_ids)

    assert retry.as_dict() == {"sent": 1, "failed": 0, "skipped": 0}
    assert smtp.recipients() == Counter({A: 1, B: 1, C: 1, D: 1})
    assert _state(onc_a) == DigestState.SENT


def test_retries_back_off_and_wait_out_a_claim_held_elsewhere():
    waits = [retry_countdown(n, claimed_elsewhere=False) for n in range(digests.MAX_RETRIES)]

    assert waits == [60, 120, 240, 480, 960, 1800]
    assert retry_countdown(0, claimed_elsewhere=True) > CLAIM_TIMEOUT.total_seconds()


# --- Racing runs -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_digest_once(clinic, smtp):
    smtp.delay = 0.3  # each send is slow, so the two runs overlap on every user
    start = threading.Barrier(2)
    runs, errors = [], []

    def run():
        try:
            start.wait(timeout=10)
            runs.append(send_daily_digests(day=TODAY))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert smtp.recipients() == Counter({A: 1, B: 1, C: 1, D: 1})
    assert sum(r.sent for r in runs) == 4 and sum(r.skipped for r in runs) == 4
    assert set(DigestSent.objects.values_list("state", flat=True)) == {DigestState.SENT}
    assert PatientAccess.objects.filter(view="digest").count() == 6

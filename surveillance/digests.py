"""The daily e-mail digest: each nurse learns how many draws are due and overdue, each
oncologist how many open ESR1 alerts their patients have, with a link to the worklist. One
message per user and day, none when there is nothing to say.

E-mail is not a secure channel, so a digest carries counts and a link, never a name, MRN, birth
date or variant: the records behind the counts are read only to count them (ids, dates), and
each patient counted is logged as read by the user the digest went to (SPEC section 1).

How a user's digest goes out, each user on their own so that one failure stops nobody else:

1. Claim. The user's DigestSent row for the day is set to `sending` with a fresh claim token
   and the database's clock: by INSERT on the first attempt (the unique (user, day) constraint
   lets one run win), else by a conditional UPDATE that only takes a `failed` row or a
   `sending` row older than CLAIM_TIMEOUT (its worker was killed mid-send). The claim commits
   before anything is sent, so a run racing this one sees it and keeps off.
2. Send.
3. Success: the row goes to `sent`, with the access-log rows, in one transaction. Failure: the
   row goes to `failed` (released for a retry) and the user is handed back for a retry.

A user whose claim another run holds is skipped and handed back too: if that run finishes, the
retry finds `sent` and does nothing; if it died, the retry comes after CLAIM_TIMEOUT and takes
the abandoned claim. A message the server took but whose `sent` mark was then lost (the database
went away in between) goes again once its claim times out: a repeated count beats a lost digest.
"""

import logging
import smtplib
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from patients.selectors import log_patient_accesses
from surveillance.models import ESR1_KINDS, Alert, DigestSent, DigestState, Draw

logger = logging.getLogger(__name__)

# A nurse's digest counts planned draws due up to this far ahead, and every overdue one.
DUE_WINDOW = timedelta(days=7)
# A `sending` claim older than this was abandoned (its worker was killed). It must outlast the
# slowest real send: a few SMTP round trips of at most settings.EMAIL_TIMEOUT each.
CLAIM_TIMEOUT = timedelta(minutes=15)
# After this many users in a row for whom the mail server could not be reached at all, the
# rest of the run is handed to the retry untried instead of waiting out a timeout each.
UNREACHABLE_LIMIT = 3
# Retries: 1, 2, 4, 8, 16, then 30 minutes apart, about an hour and a half in all.
RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 30 * 60
MAX_RETRIES = 6
ACCESS_VIEW = "digest"


@dataclass(frozen=True)
class Digest:
    subject: str
    body: str
    # Whose records the counts were drawn from: logged as read once the digest has gone out.
    patient_ids: frozenset[int]


@dataclass
class DigestRun:
    day: date
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    # Users to try again: their send failed, or another run holds their claim.
    retry_user_ids: list[int] = field(default_factory=list)
    claimed_elsewhere: bool = False

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped}


def retry_countdown(retries: int, *, claimed_elsewhere: bool) -> int:
    """Seconds before retry number `retries + 1`: doubling from a minute, at most half an hour;
    when a claim held by another run is waited for, not before that claim could time out."""
    countdown = min(RETRY_FIRST_SECONDS * 2**retries, RETRY_MAX_SECONDS)
    if claimed_elsewhere:
        countdown = max(countdown, int(CLAIM_TIMEOUT.total_seconds()) + RETRY_FIRST_SECONDS)
    return countdown


def send_daily_digests(*, day: date, user_ids: Iterable[int] | None = None) -> DigestRun:
    """Send `day`'s digests (to `user_ids` only, on a retry). Runs in autocommit: each claim
    must be visible to other runs before its message goes."""
    run = DigestRun(day=day)
    unreachable_in_a_row = 0
    for user, digest in digests_for(day=day, user_ids=user_ids):
        if unreachable_in_a_row >= UNREACHABLE_LIMIT:
            run.failed += 1
            run.retry_user_ids.append(user.id)
            continue
        token = _claim(user_id=user.id, day=day)
        if token is None:
            run.skipped += 1
            if _state(user_id=user.id, day=day) != DigestState.SENT:
                run.retry_user_ids.append(user.id)
                run.claimed_elsewhere = True
            continue
        try:
            send_mail(digest.subject, digest.body, settings.DEFAULT_FROM_EMAIL, [user.email])
        except Exception as exc:
            _release(user_id=user.id, day=day, token=token, error=exc)
            logger.warning("Digest for user %s on %s not sent: %r", user.id, day, exc)
            run.failed += 1
            run.retry_user_ids.append(user.id)
            unreachable_in_a_row = unreachable_in_a_row + 1 if _unreachable(exc) else 0
            continue
        unreachable_in_a_row = 0
        _mark_sent(user=user, day=day, token=token, digest=digest)
        run.sent += 1
    if unreachable_in_a_row >= UNREACHABLE_LIMIT:
        logger.warning("Mail server unreachable; %s digest(s) left for the retry", run.failed)
    return run


def digests_for(*, day: date, user_ids: Iterable[int] | None = None) -> list[tuple[User, Digest]]:
    """Each user with something to say on `day` and their digest, in user order. Three queries
    whatever the number of users; no patient's identity is loaded."""
    draws = list(
        Draw.objects.filter(
            status="planned", due_date__lte=day + DUE_WINDOW, patient__status="active"
        ).values_list("patient_id", "due_date")
    )
    # One entry per open ESR1 alert: the patient it belongs to.
    alerted_by_oncologist: dict[int, list[int]] = defaultdict(list)
    for oncologist_id, patient_id in Alert.objects.filter(
        status="open", kind__in=list(ESR1_KINDS)
    ).values_list("patient__oncologist_id", "patient_id"):
        alerted_by_oncologist[oncologist_id].append(patient_id)

    users = (
        User.objects.filter(is_active=True, role__in=[Role.NURSE, Role.ONCOLOGIST])
        .exclude(email="")
        .order_by("id")
    )
    if user_ids is not None:
        users = users.filter(id__in=list(user_ids))
    worklist_url = settings.SITE_URL + reverse("home")
    # Nurses look after every patient (SPEC section 1): one digest says it for all of them.
    nurse_digest = _nurse_digest(draws, day=day, worklist_url=worklist_url) if draws else None
    digests = []
    for user in users:
        if user.role == Role.NURSE and nurse_digest:
            digest = nurse_digest
        elif user.role == Role.ONCOLOGIST and alerted_by_oncologist.get(user.id):
            digest = _oncologist_digest(
                alerted_by_oncologist[user.id], day=day, worklist_url=worklist_url
            )
        else:
            continue
        digests.append((user, digest))
    return digests


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _nurse_digest(draws: list[tuple[int, date]], *, day: date, worklist_url: str) -> Digest:
    overdue = sum(1 for _, due_date in draws if due_date < day)
    due = len(draws) - overdue
    lines = [
        _plural(due, "blood draw", "blood draws") + " due in the next 7 days",
        _plural(overdue, "blood draw", "blood draws") + " overdue",
    ]
    return Digest(
        subject=f"ESR1 Watch: {_plural(due, 'draw', 'draws')} due, {overdue} overdue",
        body=_body(lines, day=day, worklist_url=worklist_url),
        patient_ids=frozenset(patient_id for patient_id, _ in draws),
    )


def _oncologist_digest(alerted: list[int], *, day: date, worklist_url: str) -> Digest:
    line = _plural(len(alerted), "open ESR1 alert", "open ESR1 alerts") + " for your patients"
    return Digest(
        subject=f"ESR1 Watch: {line}",
        body=_body([line], day=day, worklist_url=worklist_url),
        patient_ids=frozenset(alerted),
    )


def _body(lines: list[str], *, day: date, worklist_url: str) -> str:
    return render_to_string(
        "surveillance/email/digest.txt",
        {"lines": lines, "day": day, "worklist_url": worklist_url},
    )


# --- The claim ----------------------------------------------------------------------------


def _claim(*, user_id: int, day: date) -> uuid.UUID | None:
    """Take the user's digest for `day`: the token that proves it, or None when another run
    holds it or it has been sent."""
    token = uuid.uuid4()
    retaken = (
        DigestSent.objects.filter(user_id=user_id, day=day)
        .filter(
            Q(state=DigestState.FAILED)
            | Q(state=DigestState.SENDING, claimed_at__lt=Now() - CLAIM_TIMEOUT)
        )
        .update(
            state=DigestState.SENDING,
            claim_token=token,
            claimed_at=Now(),
            attempts=F("attempts") + 1,
        )
    )
    if retaken:
        return token
    try:
        with transaction.atomic():
            DigestSent.objects.create(
                user_id=user_id, day=day, state=DigestState.SENDING, claim_token=token,
                claimed_at=Now(),
            )  # fmt: skip
    except IntegrityError:
        return None
    return token


def _state(*, user_id: int, day: date) -> str | None:
    return (
        DigestSent.objects.filter(user_id=user_id, day=day).values_list("state", flat=True).first()
    )


def _held(*, user_id: int, day: date, token: uuid.UUID):
    return DigestSent.objects.filter(
        user_id=user_id, day=day, state=DigestState.SENDING, claim_token=token
    )


def _mark_sent(*, user: User, day: date, token: uuid.UUID, digest: Digest) -> None:
    with transaction.atomic():
        marked = _held(user_id=user.id, day=day, token=token).update(
            state=DigestState.SENT, sent_at=Now(), summary=digest.subject[:200]
        )
        log_patient_accesses(user=user, patient_ids=digest.patient_ids, view=ACCESS_VIEW)
    if not marked:
        logger.warning(
            "Digest for user %s on %s was sent after its claim timed out; another run may "
            "send it again",
            user.id,
            day,
        )


def _release(*, user_id: int, day: date, token: uuid.UUID, error: Exception) -> None:
    _held(user_id=user_id, day=day, token=token).update(
        state=DigestState.FAILED, last_error=f"{type(error).__name__}: {error}"[:200]
    )


def _unreachable(error: Exception) -> bool:
    """No SMTP conversation took place (refused, reset, timed out, greeting refused): the next
    user would fare no better. A refusal of one message (4xx/5xx to a command) is not this."""
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    if isinstance(error, smtplib.SMTPException):
        return False
    return isinstance(error, OSError)

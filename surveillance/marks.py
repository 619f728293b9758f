"""The engine's side of the outbox (patients/outbox.py): which marks the minute sweep takes,
answering the marks a run read, and putting off a patient whose evaluation fails.

A mark is answered (deleted) or put off only as it was read: a change committed meanwhile
re-marks the patient with another time, and that newer mark stays due. Equality, not "not
newer": a mark written by a host whose clock runs behind is kept too.

A patient whose evaluation fails keeps its mark, retried with a growing delay (1, 2, 4 ...
minutes, at most an hour) so that it never holds up the others: the sweep takes only marks
that are due, fresh ones (fewest attempts) first. A new change to the patient makes its mark
due again at once (patients.outbox.patient_changed), and any run that evaluates the patient
successfully answers the mark.
"""

from datetime import datetime

from django.db import connection

from patients.models import PendingEvaluation
from surveillance.bulk import id_array

RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 3600
# 60 s * 2**6 is past the hour already; the cap keeps power() far from overflowing.
_MAX_DOUBLINGS = 6
# How long a mark taken by an evaluation after a change (claim) stays out of other runs'
# reach: far longer than a run of a few hundred patients takes.
LEASE_SECONDS = 60


def due(*, now: datetime, limit: int) -> list[int]:
    """The patients the sweep evaluates now: marks whose next attempt has come, those that
    have failed least first, then the longest waiting."""
    return list(
        PendingEvaluation.objects.filter(next_attempt_at__lte=now)
        .order_by("attempts", "next_attempt_at", "patient_id")
        .values_list("patient_id", flat=True)[:limit]
    )


def claim(*, now: datetime, limit: int, lease_seconds: int = LEASE_SECONDS) -> list[int]:
    """The due marks an evaluation after a change takes (engine.run_after_change), each put
    out of the others' reach for `lease_seconds`: another worker's run, or the sweep, does not
    evaluate the same patients at the same time. The run answers the marks when it is done;
    a run that dies leaves them to come due again when the lease ends. A change meanwhile
    makes its patient's mark due at once again (patients.outbox.patient_changed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patients_pendingevaluation AS p "
            "SET next_attempt_at = %s + make_interval(secs => %s) "
            "FROM (SELECT patient_id FROM patients_pendingevaluation "
            "      WHERE next_attempt_at <= %s "
            "      ORDER BY attempts, next_attempt_at, patient_id LIMIT %s "
            "      FOR UPDATE SKIP LOCKED) AS due "
            "WHERE p.patient_id = due.patient_id "
            "RETURNING p.patient_id",
            [now, lease_seconds, now, limit],
        )
        return sorted(pid for (pid,) in cursor.fetchall())


def read(ids: list[int]) -> dict[int, datetime]:
    """The marks of these patients as they stand: patient id -> marked_at.

    `= ANY(array)`, a key probe or a hashed filter whatever the table's statistics say: the
    marks come and go by thousands a day, and planned on a count taken while the table was
    empty, a join to the batch's ids read the whole table once per id (7.5 s of a 9,000
    patient run with the day's changes still marked)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT patient_id, marked_at FROM patients_pendingevaluation"
            " WHERE patient_id = ANY(%s::bigint[])",
            [id_array(ids)],
        )
        return dict(cursor.fetchall())


def answer(marks: dict[int, datetime]) -> None:
    """Delete these marks, if each is still the one read."""
    if not marks:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM patients_pendingevaluation AS p "
            "USING unnest(%s::bigint[], %s::timestamptz[]) AS m(pid, marked) "
            "WHERE p.patient_id = m.pid AND p.marked_at = m.marked",
            [list(marks), list(marks.values())],
        )


def put_off(marks: dict[int, datetime], *, now: datetime) -> None:
    """One more failed attempt for each of these marks still as read: its next attempt waits
    RETRY_FIRST_SECONDS, doubled with each failure, at most RETRY_MAX_SECONDS."""
    if not marks:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patients_pendingevaluation AS p "
            "SET attempts = p.attempts + 1, next_attempt_at = %s + make_interval(secs => "
            "least(%s * power(2, least(p.attempts, %s)), %s)) "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) AS m(pid, marked) "
            "WHERE p.patient_id = m.pid AND p.marked_at = m.marked",
            [
                now, RETRY_FIRST_SECONDS, _MAX_DOUBLINGS, RETRY_MAX_SECONDS,
                list(marks), list(marks.values()),
            ],
        )  # fmt: skip

"""The daily e-mail digest: nurses get draws due and overdue, oncologists their patients'
open ESR1 alerts. One message per user and day, none when there is nothing to say."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.roles import Role
from patients.models import PatientStatus, clinic_today
from surveillance.models import ESR1_KINDS, Alert, AlertStatus, DigestSent, Draw, DrawStatus


def _claim(user, day, summary: str) -> bool:
    """Insert the (user, day) row; only the winner of the unique constraint sends."""
    try:
        with transaction.atomic():
            DigestSent.objects.create(user=user, day=day, summary=summary[:200])
    except IntegrityError:
        return False
    return True


def _nurse_body(draws, today) -> tuple[str, str]:
    overdue = [d for d in draws if d.due_date < today]
    due = [d for d in draws if d.due_date >= today]
    lines = [f"Draws overdue: {len(overdue)}; due in the next 7 days: {len(due)}.", ""]
    for label, group in (("Overdue", overdue), ("Due", due)):
        if group:
            lines.append(f"{label}:")
            lines += [
                f"  {d.due_date}  {d.patient.mrn}  {d.patient.family_name}, {d.patient.given_name}"
                for d in group
            ]
    return f"ESR1 Watch: {len(overdue)} overdue, {len(due)} due draws", "\n".join(lines)


def _oncologist_body(alerts) -> tuple[str, str]:
    lines = [f"Open ESR1 alerts for your patients: {len(alerts)}.", ""]
    lines += [f"  {a.patient.mrn}  {a.patient.family_name}: {a.title}" for a in alerts]
    return f"ESR1 Watch: {len(alerts)} open ESR1 alert(s)", "\n".join(lines)


def send_daily_digests(*, today=None) -> dict:
    today = today or clinic_today()
    sent = skipped = 0
    draws = list(
        Draw.objects.filter(
            status=DrawStatus.PLANNED,
            due_date__lte=today + timedelta(days=7),
            patient__status=PatientStatus.ACTIVE,
        )
        .select_related("patient")
        .order_by("due_date")
    )
    alerts_by_oncologist = defaultdict(list)
    for alert in (
        Alert.objects.filter(status=AlertStatus.OPEN, kind__in=list(ESR1_KINDS))
        .select_related("patient")
        .order_by("created_at")
    ):
        alerts_by_oncologist[alert.patient.oncologist_id].append(alert)

    for user in User.objects.filter(is_active=True, role__in=[Role.NURSE, Role.ONCOLOGIST]):
        if not user.email:
            continue
        if user.role == Role.NURSE:
            if not draws:
                continue
            subject, body = _nurse_body(draws, today)
        else:
            mine = alerts_by_oncologist.get(user.id)
            if not mine:
                continue
            subject, body = _oncologist_body(mine)
        if not _claim(user, today, subject):
            skipped += 1
            continue
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
        sent += 1
    return {"sent": sent, "already_sent": skipped}

"""Who may do what. Every permission decision in the application reads from here."""

from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    ONCOLOGIST = "oncologist", "Oncologist"
    NURSE = "nurse", "Nurse"
    ADMIN = "admin", "Administrator"
    # A laboratory or EHR system: posts reports with a token, never signs in on the web.
    INTERFACE = "interface", "Interface (laboratory or EHR system)"


class Action(models.TextChoices):
    VIEW_CLINICAL = "view_clinical"
    EDIT_PATIENT = "edit_patient"
    EDIT_TREATMENT = "edit_treatment"
    EDIT_ASSESSMENT = "edit_assessment"
    RECORD_APPOINTMENT = "record_appointment"
    RECORD_DRAW = "record_draw"
    RECORD_RESULT = "record_result"
    RESOLVE_ESR1_ALERT = "resolve_esr1_alert"
    RESOLVE_LOGISTICS_ALERT = "resolve_logistics_alert"
    MANAGE_USERS = "manage_users"
    MANAGE_POLICY = "manage_policy"
    VIEW_POLICY = "view_policy"
    VIEW_AUDIT = "view_audit"
    # Post laboratory reports to /api/v1/imports/ (FHIR, HL7 v2, CSV).
    IMPORT_REPORTS = "import_reports"
    # Sign in on the web and look after one's own account: password, two-step sign-in, API
    # tokens, the API docs. People do; system accounts do not.
    WEB_SIGN_IN = "web_sign_in"
    # The programme's aggregate figures (/metrics/, /api/v1/metrics/).
    VIEW_METRICS = "view_metrics"


_PERSON = {Action.WEB_SIGN_IN}
# Clinicians read the records, and the policy page that explains the rules behind the alerts.
_CLINICAL_READ = {Action.VIEW_CLINICAL, Action.VIEW_POLICY}
# The programme's aggregate figures: counts, rates and medians, never a patient's record.
_PROGRAMME_METRICS = {Action.VIEW_METRICS}
_NURSE_WRITES = {
    Action.RECORD_APPOINTMENT,
    Action.RECORD_DRAW,
    Action.RECORD_RESULT,
    Action.RESOLVE_LOGISTICS_ALERT,
}

ALLOWED: dict[str, frozenset[str]] = {
    Role.ONCOLOGIST: frozenset(
        _PERSON
        | _CLINICAL_READ
        | _NURSE_WRITES
        | _PROGRAMME_METRICS
        | {
            Action.EDIT_PATIENT,
            Action.EDIT_TREATMENT,
            Action.EDIT_ASSESSMENT,
            Action.RESOLVE_ESR1_ALERT,
            Action.IMPORT_REPORTS,
        }
    ),
    Role.NURSE: frozenset(
        _PERSON | _CLINICAL_READ | _NURSE_WRITES | _PROGRAMME_METRICS | {Action.IMPORT_REPORTS}
    ),
    # Administrators run the system, not the clinic: no clinical records, only the
    # programme's aggregates.
    Role.ADMIN: frozenset(
        _PERSON
        | {Action.MANAGE_USERS, Action.MANAGE_POLICY, Action.VIEW_POLICY, Action.VIEW_AUDIT}
        | _PROGRAMME_METRICS
    ),
    # Posts reports and reads nothing: not even its own account pages.
    Role.INTERFACE: frozenset({Action.IMPORT_REPORTS}),
}

# Accounts of other systems rather than people: no password and no web sign-in; their API
# token is issued by an administrator (`manage.py issue_token`, or the admin) and lasts until
# it is revoked. Everyone else gets tokens by signing in, and those expire (API_TOKEN_HOURS).
SYSTEM_ROLES = frozenset({Role.INTERFACE})

# Django model permissions granted to each role's group, so the Django admin
# (where staff users work) honours the same split. "app_label.codename".
GROUP_PERMISSIONS: dict[str, list[str]] = {
    Role.ADMIN: [
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "auth.view_group",
        # Lockouts: read the attempts and sign-ins, unlock by deleting an attempt.
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.view_intervalschedule",
        "surveillance.view_surveillancepolicy",
        "surveillance.add_surveillancepolicy",
        "surveillance.change_surveillancepolicy",
        "patients.view_drug",
        "patients.change_drug",
        "surveillance.view_assayprofile",
        "surveillance.change_assayprofile",
        "patients.view_patientaccess",
        "patients.view_audittrailread",
        "pghistory.view_events",
    ],
    Role.ONCOLOGIST: [],
    Role.NURSE: [],
    Role.INTERFACE: [],
}


def can(user, action: str) -> bool:
    """True when an active, signed-in user's role allows `action`."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return action in ALLOWED.get(getattr(user, "role", ""), frozenset())


def require(actor, action: str, message: str = "Your role does not allow this.") -> None:
    """Refuse (PermissionDenied, a 403) unless `actor`'s role allows `action`. Every service
    calls this before it writes: the pages and the API check too, and this keeps a page,
    script or task that forgets from writing anyway."""
    if not can(actor, action):
        raise PermissionDenied(message)


def is_system_account(user) -> bool:
    """A laboratory or EHR system's account (SYSTEM_ROLES), not a person's."""
    return getattr(user, "role", "") in SYSTEM_ROLES

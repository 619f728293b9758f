"""ESR1 Watch settings: one file, configured only through environment variables.

See the configuration table in README.md. Nothing secret has a default here.
"""

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

# Local data (the generated key, embedded servers): .data/ or $ESR1_DATA_DIR.
from config.embedded import DATA_DIR

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is false. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # Local/demo only: a random key kept under .data/ so sessions survive restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def _env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated variable; spaces around the commas are forgiven."""
    return [item.strip() for item in env.list(name, default=default) if item.strip()]


ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", default=[])


def _site_url() -> str:
    """Where a link in an e-mail points (no trailing slash). Set explicitly, else the local
    server under DEBUG, else https on the first ALLOWED_HOSTS name."""
    url = env.str("SITE_URL", default="").strip().rstrip("/")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ImproperlyConfigured(
                f"SITE_URL must be the address users open, such as https://esr1.example.org, "
                f"not {url!r}."
            )
        return url
    if DEBUG:
        return f"http://127.0.0.1:{env.int('PORT', default=8000)}"
    host = ALLOWED_HOSTS[0] if ALLOWED_HOSTS else ""
    if not host or host == "*" or host.startswith("."):
        raise ImproperlyConfigured(
            "SITE_URL must be set when the first ALLOWED_HOSTS entry is not a host name "
            f"({host or 'none'}); for example SITE_URL=https://esr1.example.org"
        )
    return f"https://{host}"


SITE_URL = _site_url()


def _trusted_proxies() -> list[str]:
    networks = []
    for entry in _env_list("TRUSTED_PROXIES", default=[]):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: '{entry}' is not an IP address or network. Give the reverse "
                "proxies' addresses, comma-separated, e.g. TRUSTED_PROXIES=10.0.0.5,172.18.0.0/16"
            ) from None
    return networks


# Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or
# networks). From anyone else both headers are dropped (config.middleware.TrustedProxyMiddleware).
TRUSTED_PROXIES = _trusted_proxies()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "csp",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "accounts",
    "patients",
    "surveillance",
    "chart",
    "programme",
    "imports",
]

MIDDLEWARE = [
    # Before anything reads the client's address or asks whether the request came over HTTPS.
    "config.middleware.TrustedProxyMiddleware",
    # Probes first: answered before host validation and the HTTPS redirect.
    "config.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files stay cacheable and nothing else is.
    "config.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Notes each user's successful writes, so their worklist totals are never stale after one.
    "surveillance.worklist_counts.WriteNoteMiddleware",
    # After auth, OTP and messages: refuses sessions of system accounts, ends over-age
    # sessions, then holds unenrolled users at the two-step set-up page when MFA_REQUIRED.
    "accounts.middleware.SystemAccountMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.MfaEnrolmentMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so the lockout response it substitutes still passes through every other middleware.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores -----------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1/esr1watch")
}
# A Unix-socket host arrives percent-encoded in the URL (the embedded server).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The audit triggers read the pgtrigger.ignore setting; when a session has never set it they
# take a slow exception path on every row. Declaring it (empty: nothing ignored) at connect
# keeps every audited write on the fast path.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = (_db_options.get("options", "") + " -c pgtrigger.ignore={}").strip()

# Two roles (config/dbroles.py): the owner migrates; the application connects as a role with no
# UPDATE, DELETE or TRUNCATE on the audit tables. DATABASE_OWNER_URL names the owner's login;
# without it DATABASE_URL's user is the owner too, and the application's connections switch to
# DATABASE_APP_ROLE (default esr1_app) as they open.
_owner_url = env.str("DATABASE_OWNER_URL", default="")
_owner_db = environ.Env.db_url_config(_owner_url) if _owner_url else dict(DATABASES["default"])
_owner_db["HOST"] = unquote(_owner_db.get("HOST", ""))
_app_db = DATABASES["default"]
_own_login = bool(_owner_url) and _owner_db.get("USER") != _app_db.get("USER")
_app_role = _app_db["USER"] if _own_login else env.str("DATABASE_APP_ROLE", default="esr1_app")
DATABASE_ROLES = {
    "app_role": _app_role,
    "owner": {key: _owner_db.get(key, "") for key in ("USER", "PASSWORD", "HOST", "PORT")},
    "app": {
        **{key: _app_db.get(key, "") for key in ("USER", "PASSWORD", "HOST", "PORT")},
        "SET_ROLE": None if _own_login else _app_role,
    },
}
if not _own_login:
    _db_options["options"] += f" -c role={_app_role}"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "esr1watch",
        "TIMEOUT": 300,
    }
}

# --- Auth --------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # ASVS 2.1.1: at least 12 characters.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Axes first: it refuses a locked-out username + address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Two-step sign-in (TOTP, django-otp). When required, a user without a confirmed
# authenticator is held at the set-up page; see accounts/middleware.py and accounts/mfa.py.
MFA_REQUIRED = env.bool("MFA_REQUIRED", default=not DEBUG)
OTP_TOTP_ISSUER = "ESR1 Watch"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Seconds between the password and the code before the sign-in must start again.
MFA_LOGIN_TIMEOUT = 600

# Lockout (django-axes): 5 failures for one username from one address lock that pair for
# 15 minutes. Wrong codes at the two-step stage and on the token endpoint count too. Besides
# the pair, accounts.lockout.SignInLockoutHandler locks an address after 20 failures across
# usernames (password spraying) and a username after 10 failures across addresses, within
# the same 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HANDLER = "accounts.lockout.SignInLockoutHandler"
# The client's address as TrustedProxyMiddleware left it in REMOTE_ADDR; never a header.
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
SIGN_IN_FAILURES_PER_ADDRESS = 20
SIGN_IN_FAILURES_PER_USERNAME = 10
# No start-up banner on every manage.py command; failures and lockouts are still logged.
AXES_VERBOSE = False
# Masked in the stored attempt records (the password always is). Username and address stay
# readable so a lockout warning in the log says who and from where.
AXES_SENSITIVE_PARAMETERS = ["otp", "otp_token"]

SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=15)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# Each request pushes the expiry forward, so SESSION_COOKIE_AGE acts as the idle timeout.
SESSION_SAVE_EVERY_REQUEST = True
# Django's database store; the save that only moves the expiry does not wait for the disk.
SESSION_ENGINE = "config.sessions"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# However active, a session ends this long after sign-in (accounts/middleware.py).
SESSION_ABSOLUTE_HOURS = env.int("SESSION_ABSOLUTE_HOURS", default=12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Security headers --------------------------------------------------------

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes call these over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Only ever present when a trusted proxy sent it: TrustedProxyMiddleware drops the header
# from everyone else (TRUSTED_PROXIES).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# No "preload": the preload list takes whole registrable domains (the hospital's, not this
# app's host name) and is slow to leave; that is the domain owner's decision, not ours.
SECURE_HSTS_PRELOAD = False
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Nothing inline and nothing from another host (SPEC section 6): every script and style is a
# file under /static/. The API docs load their start-up script as a file too
# (SpectacularSwaggerSplitView); htmx is told not to inject its indicator <style>.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# Browser features a clinic page never uses are switched off for it and for any frame.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "browsing-topics", "camera",
        "display-capture", "geolocation", "gyroscope", "hid", "magnetometer", "microphone",
        "midi", "payment", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip

# Request bodies: 1 MB is far above any form or API write here (a result with its variants
# is a few kB); config.middleware.RequestSizeLimitMiddleware answers 413 above it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 500

# The audit viewer: pghistory's change history with user/patient/date filters and CSV export.
PGHISTORY_ADMIN_CLASS = "patients.audit_admin.ChangeHistoryAdmin"

# --- I18N / time ---------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files (served by WhiteNoise in every mode) ---------------------

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- E-mail --------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ESR1 Watch <esr1watch@localhost>")
# Seconds an SMTP connect or reply may take. Without a limit a silent server holds a digest's
# claim forever; surveillance/digests.py's claim timeout counts on sends that end.
EMAIL_TIMEOUT = 20

# --- REST API --------------------------------------------------------------------

# API tokens (django-rest-knox, accounts/tokens.py): stored hashed; a signed-in user's token
# expires API_TOKEN_HOURS after it is issued; a system account's lasts until revoked.
API_TOKEN_HOURS = env.int("API_TOKEN_HOURS", default=12)
if API_TOKEN_HOURS < 1:
    raise ImproperlyConfigured(
        f"API_TOKEN_HOURS must be a whole number of hours, at least 1 (it is {API_TOKEN_HOURS})."
    )
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# knox's own token model is swapped for accounts.ApiToken, so its table is never used: its
# migrations are not run (they would create it anyway, with a key on accounts_user).
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so an anonymous API call gets 401 with WWW-Authenticate.
        "accounts.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Counted in Redis (the default cache). The token endpoint has its own, tighter limit
    # per address (config.throttling.SignInRateThrottle).
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.AnonRateThrottle",
        "config.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": "60/minute",
        "user": "600/minute",
        "sign-in": "10/minute",
        "import": "6000/minute",
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ESR1 Watch API",
    "DESCRIPTION": "ctDNA ESR1 surveillance for first-line AI + CDK4/6 inhibitor therapy.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would fetch it from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # Document the error answers (400/401/403/404/409) next to each success answer.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.document_error_responses",
    ],
    # Several models have a `status`; name each choice set so the schema's enums stay stable.
    "ENUM_NAME_OVERRIDES": {
        "DrawStatusEnum": "surveillance.models.DrawStatus",
        "ResultStatusEnum": "surveillance.models.ResultStatus",
        "PatientStatusEnum": "patients.models.PatientStatus",
        "ReceptorStatusEnum": "patients.models.ReceptorStatus",
        "AlertStatusEnum": "surveillance.models.AlertStatus",
    },
}

# --- Celery ----------------------------------------------------------------------


def _celery_url(url: str) -> str:
    # redis-py spells a socket "unix://"; kombu wants "redis+socket://".
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


CELERY_BROKER_URL = _celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = _celery_url(REDIS_URL)
CELERY_TIMEZONE = TIME_ZONE
# Only JSON crosses the broker: no pickle, so a message can never run code.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Acknowledge after the task has run, so a worker that dies mid-task leaves the
# message on the queue for another worker (tasks are idempotent, so a rerun is safe).
CELERY_TASK_ACKS_LATE = True
# ...and when the worker process is killed (OOM, SIGKILL) the message is requeued
# instead of being acknowledged as failed.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message per worker process at a time: with late acks a long prefetch would
# strand messages behind a slow task.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A hung task must not block a worker forever: soft limit raises inside the task,
# hard limit kills the child.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
# A message not acknowledged within this window is redelivered; it must exceed the
# longest task (the nightly run) or that task would run twice.
# Publishing gives up quickly when Redis is down: a web request must not stall on the
# broker, and the outbox sweep re-sends what could not be enqueued.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": 2,
}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The database scheduler lets admins see and pause schedules; exactly one beat runs.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # The morning run, before clinic opens (clinic time zone): the patients whose verdict may
    # have changed, everybody once a week (SURVEILLANCE_FULL_RUN_WEEKDAY).
    "surveillance-daily": {
        "task": "surveillance.run_nightly",
        "schedule": crontab(hour=6, minute=0),
    },
    # Catches changes whose on-commit message was lost (see patients/outbox.py).
    "surveillance-sweep": {
        "task": "surveillance.sweep_marked",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "surveillance-digests": {
        "task": "surveillance.send_digests",
        "schedule": crontab(hour=6, minute=30),
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes logs every sign-in and sign-out at INFO; failures and lockouts are WARNING.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")

# How many batches of a large surveillance run go through at once, each on its own database
# connection: while one batch is evaluated in Python the other waits on Postgres. 1 runs the
# batches one after another; more than the machine's cores buys nothing.
SURVEILLANCE_ENGINE_WORKERS = env.int("SURVEILLANCE_ENGINE_WORKERS", default=2)

# The nightly run evaluates only the patients whose verdict may have changed (their next
# change has come, or their record changed); on this weekday (Monday 0 ... Sunday 6), when the
# last full run is a week old, and after a policy change it evaluates everybody. Empty: no
# weekly full run (a policy change, `run_surveillance --full` and the first run still are).
SURVEILLANCE_FULL_RUN_WEEKDAY = env.str("SURVEILLANCE_FULL_RUN_WEEKDAY", default="6")
SURVEILLANCE_FULL_RUN_WEEKDAY = (
    int(SURVEILLANCE_FULL_RUN_WEEKDAY) if SURVEILLANCE_FULL_RUN_WEEKDAY.strip() else None
)

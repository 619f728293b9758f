"""Liveness and readiness probes. No authentication, no session, plain JSON."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_postgres() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        connection.close_if_unusable_or_obsolete()
        return f"{type(exc).__name__}"
    return None


def _check_redis() -> str | None:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}"
    return None


@never_cache
@require_GET
def readyz(request):
    checks = {"postgres": _check_postgres(), "redis": _check_redis()}
    down = sorted(name for name, error in checks.items() if error)
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": {
            name: ("ok" if error is None else f"down: {error}") for name, error in checks.items()
        },
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


PROBES = {"/healthz": healthz, "/readyz": readyz}


class ProbeMiddleware:
    """Answer the probes before host validation, the HTTPS redirect and sessions.

    Orchestrators call them over plain HTTP with whatever Host they use for the container
    (its IP, 127.0.0.1), which need not be in ALLOWED_HOSTS; a 400 there would mark a
    healthy server as down. Goes first in MIDDLEWARE.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)

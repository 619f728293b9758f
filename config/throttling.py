"""API rate limits (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]), counted in Redis (the default
cache). A module of its own: DRF imports these while it defines APIView, so they cannot live
next to code that imports DRF's views.
"""

from rest_framework import throttling

# The client's address is REMOTE_ADDR as config.middleware.TrustedProxyMiddleware left it:
# X-Forwarded-For is gone by then, so DRF cannot be fooled by one.

RATE_KEY_PREFIX = "api-rate:"


class AnonRateThrottle(throttling.AnonRateThrottle):
    cache_format = RATE_KEY_PREFIX + "%(scope)s:%(ident)s"


class UserRateThrottle(throttling.UserRateThrottle):
    cache_format = RATE_KEY_PREFIX + "%(scope)s:%(ident)s"


class ImportRateThrottle(UserRateThrottle):
    """Laboratory imports (`/api/v1/imports/fhir|hl7v2|csv/`): a laboratory's interface sends
    every report of the day through one account, so its limit is its own, above the
    per-person one."""

    scope = "import"


class SignInRateThrottle(throttling.SimpleRateThrottle):
    """Password (and code) attempts on the token endpoint, per address: tighter than the
    anonymous rate. Only POST checks credentials, so only POST counts."""

    scope = "sign-in"
    cache_format = RATE_KEY_PREFIX + "%(scope)s:%(ident)s"

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

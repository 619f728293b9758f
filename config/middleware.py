"""Request and response hardening shared by every page and API endpoint."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers


class RequestSizeLimitMiddleware:
    """Refuse a request body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with a 413, before
    anything reads it.

    Django enforces that limit only when `request.body` or a form is read; DRF's JSON
    parser reads the raw stream, so without this an API body of any size would be parsed.
    The app takes no file uploads, so the limit applies to the whole body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            message = (
                f"The request body is {length} bytes; the most this service accepts is "
                f"{limit} bytes. Send less data per request."
            )
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class NoStoreMiddleware:
    """Every page and API response may carry patient data: no browser or proxy keeps a copy.

    Static files never reach this middleware (WhiteNoise answers them first), so they stay
    cacheable. Pragma is for HTTP/1.0 caches that ignore Cache-Control.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        response.headers.setdefault("Pragma", "no-cache")
        return response


# Headers a client could set to pass for another address or for HTTPS. Only a trusted proxy's
# X-Forwarded-For and X-Forwarded-Proto are read; the rest are never used, so they go too.
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse(address: str):
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


class TrustedProxyMiddleware:
    """Who the client is and whether it came over HTTPS, believing forwarding headers only
    from the reverse proxies in TRUSTED_PROXIES.

    From a trusted proxy, REMOTE_ADDR becomes the client's address: the nearest address in
    X-Forwarded-For that is not itself a trusted proxy (read from the right, since a client
    can write anything on the left), and X-Forwarded-Proto stays for SECURE_PROXY_SSL_HEADER.
    From anyone else every forwarding header is dropped, so the lockout, the API rate
    limits and the HTTPS redirect see the connection as it is.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        trusted = _networks(tuple(settings.TRUSTED_PROXIES))
        peer = _parse(meta.get("REMOTE_ADDR") or "")
        if trusted and peer is not None and _is_trusted(peer, trusted):
            forwarded_for = meta.pop("HTTP_X_FORWARDED_FOR", "")
            client = peer
            for hop in reversed(forwarded_for.split(",") if forwarded_for else []):
                if not _is_trusted(client, trusted):
                    break
                address = _parse(hop)
                if address is None:
                    break  # garbled: keep the last address a trusted proxy vouched for
                client = address
            meta["REMOTE_ADDR"] = str(client)
            for name in FORWARDING_HEADERS:
                if name != "HTTP_X_FORWARDED_PROTO":
                    meta.pop(name, None)
        else:
            for name in FORWARDING_HEADERS:
                meta.pop(name, None)
        return self.get_response(request)


def _is_trusted(address, networks) -> bool:
    return any(address in network for network in networks)

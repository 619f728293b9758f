"""Request and response hardening shared by every page and API endpoint."""

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

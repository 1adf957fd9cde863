"""Request size caps applied before a body is read: a body over its route's limit is refused with 413 and the
reason, from the Content-Length header, so nothing of it is parsed or stored. The reverse proxy in front
(deploy/nginx.conf) allows the largest of these and no more, so it never refuses what the app would take."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.template.defaultfilters import filesizeformat

from accounts.api_base import error_body
from accounts.text import clean_text


def limit_for(path: str) -> int:
    """The largest body the route takes: the longest matching prefix of REQUEST_BODY_LIMITS wins; a console page
    named in CONSOLE_BODY_LIMITS (the path after /a/<account id>/) has its own."""
    best, limit = -1, settings.REQUEST_BODY_DEFAULT_LIMIT
    for prefix, size in settings.REQUEST_BODY_LIMITS.items():
        if path.startswith(prefix) and len(prefix) > best:
            best, limit = len(prefix), size
    console = _CONSOLE_PAGE.match(path)
    if console and console.group(1) in settings.CONSOLE_BODY_LIMITS:
        return int(settings.CONSOLE_BODY_LIMITS[console.group(1)])
    return int(limit)


_CONSOLE_PAGE = re.compile(r"^/a/\d+/(.*)$")


def too_large(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(413, "too_large", message), status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared:
            limit = limit_for(request.path)
            try:
                size = int(declared)
            except ValueError:
                return HttpResponse("Content-Length is not a number.", status=400, content_type="text/plain")
            if size > limit:
                return too_large(
                    request,
                    f"The request body is {filesizeformat(size)}; {request.path.split('/')[1] or 'this'} "
                    f"requests may be at most {filesizeformat(limit)}.",
                )
        return self.get_response(request)


class CleanQueryStringMiddleware:
    """Query parameters as PostgreSQL will compare them: a NUL or a lone surrogate in `?q=` (a search box, a
    filter) becomes U+FFFD instead of a database error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("QUERY_STRING", "")
        if "%00" in raw or "%ED%A0" in raw.upper() or "%ED%B" in raw.upper():
            cleaned = QueryDict(mutable=True)
            for key, values in request.GET.lists():
                cleaned.setlist(clean_text(key), [clean_text(v) for v in values])
            cleaned._mutable = False
            request.GET = cleaned  # type: ignore[assignment]
        return self.get_response(request)

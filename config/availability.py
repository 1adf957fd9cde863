"""When PostgreSQL is down or restarting, every route answers 503 with `Retry-After` instead of a 500: providers
retry a 503 later (a webhook is then stored once it is back), API clients get the API's JSON error, people a
short page. Raised in a view it is caught here (also with DEBUG on); raised in a middleware before the view
(the session, say) the 500 handler turns it into the same answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.api_base import error_body

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30
MESSAGE = "The database is unavailable for a moment; nothing was stored. Please retry shortly."
DATABASE_DOWN = (OperationalError, InterfaceError)


def unavailable(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith(("/api/", "/webhooks/", "/widget/")):
        response = JsonResponse(error_body(503, "database_unavailable", MESSAGE), status=503)
    else:
        response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_DOWN):
            logger.error("database unavailable on %s %s: %s", request.method, request.path, exception)
            return unavailable(request)
        return None

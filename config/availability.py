"""When PostgreSQL is down or restarting, every route answers 503 with `Retry-After` instead of a 500: providers
retry a 503 later (a webhook is then stored once it is back), API clients get the API's JSON error, people a
short page. Raised in a view it is caught here (also with DEBUG on); raised in a middleware before the view
(the session, say) the 500 handler turns it into the same answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from accounts.api_base import error_body
from accounts.locks import is_transient

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30
MESSAGE = "The database is unavailable for a moment; nothing was stored. Please retry shortly."
DATABASE_DOWN = (OperationalError, InterfaceError)
MACHINE_PATHS = ("/api/", "/webhooks/", "/webchat/")  # answered in JSON: integrations, providers, the widget
SERVER_ERROR = "Something went wrong on our side; it has been logged."


BUSY = "Another change to the same records was being written at the same moment; nothing was stored. Please retry."
# SQLSTATEs of a server that is going away or not taking connections (class 08 is "connection exception").
_UNAVAILABLE = {"57P01", "57P02", "57P03", "53300"}


def kind_of(exc: BaseException) -> str | None:
    """ "unavailable" (no connection), "busy" (deadlock or serialization failure: rolled back, safe to retry),
    or None for a database error that is a bug to report (a 500)."""
    if not isinstance(exc, DATABASE_DOWN):
        return None
    if is_transient(exc):
        return "busy"
    sqlstate = getattr(exc.__cause__ or exc, "sqlstate", None)
    if sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE:
        return "unavailable"
    return None


def unavailable(request: HttpRequest, kind: str = "unavailable") -> HttpResponse:
    response: HttpResponse
    code, message = ("database_busy", BUSY) if kind == "busy" else ("database_unavailable", MESSAGE)
    if request.path.startswith(MACHINE_PATHS):
        response = JsonResponse(error_body(503, code, message), status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        kind = kind_of(exception)
        if kind is not None:
            logger.error("database %s on %s %s: %s", kind, request.method, request.path, exception)
            return unavailable(request, kind)
        if request.path.startswith(MACHINE_PATHS) and not isinstance(exception, Http404 | PermissionDenied):
            # A bug. Machines get the API's JSON error in every mode (DEBUG's HTML page is for people); the
            # traceback goes to the log, never to the client.
            logger.exception("unhandled error on %s %s", request.method, request.path)
            return JsonResponse(error_body(500, "server_error", SERVER_ERROR), status=500)
        return None

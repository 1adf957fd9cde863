"""Content-Security-Policy for the console: scripts, styles and connections from our own origin only.

No inline scripts or styles anywhere in the console (htmx's own indicator styles are switched off in base.html),
so a customer's text that slipped past escaping still could not run. The Django admin and the Swagger page ship
their own inline scripts and are left out."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.api_base import error_body
from accounts.two_factor import session_owes_code

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self' ws: wss:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
EXEMPT_PREFIXES = ("/django-admin/", "/api/docs/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT_PREFIXES) and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = POLICY
        return response


class TwoFactorMiddleware:
    """A session that owes its two-factor code reaches only the code page, sign-out and the public routes: pages
    redirect to the code page, session-authenticated API calls answer 403 (API tokens are unaffected)."""

    OPEN = ("/auth/", "/static/", "/healthz", "/webhooks/", "/webchat/", "/media/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(self.OPEN) or "HTTP_AUTHORIZATION" in request.META:
            return self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.session_key and session_owes_code(session):
            if request.path.startswith("/api/"):
                message = "Give your two-factor code first (/auth/two-factor/verify/), or use an API token."
                return JsonResponse(error_body(403, "two_factor_required", message), status=403)
            return redirect(f"{reverse('two-factor-verify')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

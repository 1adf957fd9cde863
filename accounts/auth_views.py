"""Sign-in pages with throttles: password reset is limited per client address and per email asked for, so the
form cannot be used to flood someone's mailbox or to sweep addresses (sign-in lockouts are django-axes')."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from .clients import client_address


def by_address(group: str, request: HttpRequest) -> str:
    """django-ratelimit key: the client's address (behind the proxy, as accounts.clients reads it)."""
    return client_address(request)


def by_email(group: str, request: HttpRequest) -> str:
    """django-ratelimit key: the email address a form asks about, normalized."""
    return str(request.POST.get("email", "")).strip().lower()


class ThrottledPasswordResetView(PasswordResetView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for key, rate in (
            (by_address, settings.PASSWORD_RESET_RATE_PER_ADDRESS),
            (by_email, settings.PASSWORD_RESET_RATE_PER_EMAIL),
        ):
            if is_ratelimited(request, group="password-reset", key=key, rate=rate, method="POST", increment=True):
                return render(request, "registration/throttled.html", {"what": "password reset"}, status=429)
        return super().post(request, *args, **kwargs)

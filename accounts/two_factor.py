"""Optional two-factor sign-in with an authenticator app (TOTP, django-otp).

A person who turned it on signs in with their password and then a six-digit code; until the code is given, the
session reaches only the code page and sign-out — no console page, no session-authenticated API call, no console
websocket. Whether a session owes a code is kept in the session at sign-in (no query on every request for people
without it). API tokens are unaffected: they are their own factor, bound to one account."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User

SESSION_REQUIRED = "two_factor_required"


@receiver(user_logged_in, dispatch_uid="accounts.two_factor_required")
def _remember_requirement(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_REQUIRED] = user_has_device(user)


def session_owes_code(session: Any) -> bool:
    """Signed in with a password, two-factor on, and no code given yet in this session."""
    return bool(session.get(SESSION_REQUIRED)) and not session.get(DEVICE_ID_SESSION_KEY)


def pending_device(user: User) -> TOTPDevice:
    """The authenticator being set up (unconfirmed until a first code proves the app has it)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()

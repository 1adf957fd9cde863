"""Who is asking: the client's address (behind our proxy, the entry it added last to X-Forwarded-For; earlier
entries come from the client and may be made up) and the sign-in name as typed, normalized, for throttles."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    forwarded = request.headers.get("X-Forwarded-For", "") if settings.BEHIND_PROXY else ""
    return (forwarded.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")) or "unknown"


def sign_in_name(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """The email a sign-in attempt is for, as django-axes counts it: case and spaces do not make a new name."""
    raw = (credentials or {}).get("username") or (request.POST.get("username", "") if request is not None else "")
    return str(raw or "").strip().lower()


def client_ip(request: HttpRequest) -> str | None:
    """client_address when it is an IP address (django-axes stores it in an address column), else None."""
    address = client_address(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address

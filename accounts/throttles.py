"""API rate limits per API token (a leaked or runaway integration is slowed on its own, not its whole account)
and per signed-in person for browser sessions."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .clients import client_address
from .models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.digest[:24]}"  # the digest, not the id: ids come back after a restore
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"address:{client_address(request)}"  # the one rule for who is asking behind our proxy
        return self.cache_format % {"scope": self.scope, "ident": ident}

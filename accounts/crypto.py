"""Secrets at rest (provider credentials, LLM API keys): Fernet tokens with key rotation (MultiFernet).

`ENCRYPTION_KEYS` (comma-separated Fernet keys, newest first) comes from the environment; new values are
encrypted with the first key and every listed key can still decrypt, so rotating is: prepend a new key, then
re-encrypt at leisure. Outside production a key is derived from SECRET_KEY so that `make run` needs no setup.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.ENCRYPTION_KEYS)
    if not keys:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("Set ENCRYPTION_KEYS (Fernet keys, newest first) in production.")
        keys = [base64.urlsafe_b64encode(hashlib.sha256(f"continuum:{settings.SECRET_KEY}".encode()).digest()).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with the configured ENCRYPTION_KEYS; was a key removed?"
        ) from None

"""An endpoint's provider credentials: a JSON object stored encrypted at rest."""

from __future__ import annotations

import json
from typing import Any

from accounts.crypto import decrypt, encrypt

from .models import ChannelEndpoint


def credentials_get(endpoint: ChannelEndpoint) -> dict[str, Any]:
    return dict(json.loads(decrypt(endpoint.credentials_encrypted) or "{}"))


def credentials_encrypt(values: dict[str, Any]) -> str:
    return encrypt(json.dumps(values, sort_keys=True)) if values else ""

"""What each provider's stored events and queued replies become, one module per provider (as adapters/ holds one
per provider's parsing and signing): `INBOUND` maps an event kind to its handler, `OUTBOUND` a message channel to
its delivery. A new channel is one module here, one adapter, and its entries below; channels_app/tasks.py (the
Celery tasks, their retries and locks) does not change."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class NotYet(Exception):
    """What the event refers to is not stored yet: the event is retried with backoff, not failed."""


@functools.cache
def handlers() -> tuple[dict[str, Callable[[Any], None]], dict[str, Callable[..., str]]]:
    """(INBOUND, OUTBOUND), imported on first use: the provider modules import the inbox's services."""
    from . import email, meta, twilio, webchat

    inbound: dict[str, Callable[[Any], None]] = {
        "messaging": twilio.messaging,
        "status": twilio.status_callback,
        "email": email.inbound_email,
        "meta": meta.meta_event,
        **twilio.VOICE_HANDLERS,
    }
    outbound: dict[str, Callable[..., str]] = {
        "sms": twilio.deliver_text,
        "whatsapp": twilio.deliver_text,
        "voice": twilio.deliver_call,
        "email": email.deliver,
        "webchat": webchat.deliver,
        "messenger": meta.deliver,
        "instagram": meta.deliver,
    }
    return inbound, outbound

"""Realtime events to the agents' browsers, through the channel layer, after commit.

Every event goes to the group of its inbox; the console consumer joins the groups of the inboxes its user may
see. Event types: message.created, message.updated, conversation.updated, memory.updated, typing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from accounts.realtime import publisher as _publisher
from accounts.realtime import send_group

logger = logging.getLogger(__name__)

__all__ = ["inbox_group", "publish", "send_group"]


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def _send(account_id: int, inbox_id: int, event: dict[str, Any]) -> None:
    try:
        _publisher.send(inbox_group(inbox_id), {"type": "realtime.event", "event": event})
    except Exception:  # a lost live update must never undo or fail the write that caused it
        logger.exception("realtime publish failed for %s in inbox %s", event.get("type"), inbox_id)


def publish(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """Send `type` with `payload` to the inbox's browsers once the current transaction commits."""
    event = {"type": type, "account_id": account_id, "inbox_id": inbox_id, **payload}
    transaction.on_commit(lambda: _send(account_id, inbox_id, event))

"""Realtime events to the agents' browsers, through the channel layer, after commit.

Every event goes to the group of its inbox; the console consumer joins the groups of the inboxes its user may
see. Event types: message.created, message.updated, conversation.updated, memory.updated, typing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from accounts.realtime import send_group

__all__ = ["announce", "inbox_group", "listeners", "publish", "send_group"]

logger = logging.getLogger(__name__)

# Called after commit with every event (account_id, inbox_id, type, payload): how a higher layer (the outbound
# webhooks of `integrations`) hears of what happened without the inbox importing it.
listeners: list[Callable[[int, int, str, dict[str, Any]], None]] = []


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def _send(account_id: int, inbox_id: int, event: dict[str, Any]) -> None:
    # send_group logs a failed publish: a lost live update never undoes or fails the write that caused it
    send_group(inbox_group(inbox_id), {"type": "realtime.event", "event": event})


def publish(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """Send `type` with `payload` to the inbox's browsers once the current transaction commits."""
    event = {"type": type, "account_id": account_id, "inbox_id": inbox_id, **payload}

    def after_commit() -> None:
        _send(account_id, inbox_id, event)
        _tell_listeners(account_id, inbox_id, type, payload)

    transaction.on_commit(after_commit)


def announce(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """An event for the listeners only (integrations), not the browsers, once the transaction commits."""
    transaction.on_commit(lambda: _tell_listeners(account_id, inbox_id, type, payload))


def _tell_listeners(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    for listener in listeners:
        try:
            listener(account_id, inbox_id, type, payload)
        except Exception:  # a listener never fails (or undoes) the write that caused the event
            logger.exception("event listener failed for %s", type)

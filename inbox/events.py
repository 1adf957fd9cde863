"""Realtime events to the agents' browsers, through the channel layer, after commit.

Every event goes to the group of its inbox; the console consumer joins the groups of the inboxes its user may
see. Event types: message.created, message.updated, conversation.updated, memory.updated, typing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.realtime import send_group

__all__ = ["inbox_group", "publish", "send_group"]


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def _send(account_id: int, inbox_id: int, event: dict[str, Any]) -> None:
    # send_group logs a failed publish: a lost live update never undoes or fails the write that caused it
    send_group(inbox_group(inbox_id), {"type": "realtime.event", "event": event})


def publish(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """Send `type` with `payload` to the inbox's browsers once the current transaction commits."""
    event = {"type": type, "account_id": account_id, "inbox_id": inbox_id, **payload}
    transaction.on_commit(lambda: _send(account_id, inbox_id, event))

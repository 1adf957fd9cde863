"""Realtime events to the agents' browsers, through the channel layer, after commit.

Every event goes to the group of its inbox; the console consumer joins the groups of the inboxes its user may
see. Event types: message.created, message.updated, conversation.updated, memory.updated, typing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from django.db import transaction

from accounts.realtime import send_group

__all__ = ["announce", "inbox_group", "listeners", "publish", "renderers", "send_group"]

logger = logging.getLogger(__name__)

# Called after commit with every event (account_id, inbox_id, type, payload): how a higher layer (the outbound
# webhooks of `integrations`) hears of what happened without the inbox importing it.
listeners: list[Callable[[int, int, str, dict[str, Any]], None]] = []

# Called after commit with (type, event, objects) before an event goes to the browsers; each returns fields to add
# (the console registers one that renders the conversation's list row and the message, so a browser swaps them in
# without fetching). Run once per event in the process that published it, never for the listeners. `objects` are
# what the publisher had in hand (the message, its conversation, contact...), never sent: a renderer may use them
# instead of reading again what was just written.
renderers: list[Callable[[str, dict[str, Any], dict[str, Any]], dict[str, Any]]] = []


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def _send(account_id: int, inbox_id: int, event: dict[str, Any]) -> None:
    # send_group logs a failed publish: a lost live update never undoes or fails the write that caused it
    send_group(inbox_group(inbox_id), {"type": "realtime.event", "event": event})


# Events published and not yet sent, in this thread: a conversation.updated marks the message.created and the
# conversation.updated of the same conversation before it in its transaction `row_follows` (it carries the row as
# committed, so the row is rendered once per commit: a message that gets its conversation assigned publishes three).
# Bounded: what a rolled-back transaction leaves here is never sent and falls off the end.
_unsent = threading.local()
ROW_CARRIERS = ("message.created", "conversation.updated")


def _pending() -> deque[dict[str, Any]]:
    if not hasattr(_unsent, "events"):
        _unsent.events = deque(maxlen=200)
    return _unsent.events  # type: ignore[no-any-return]


def publish(
    account_id: int, inbox_id: int, type: str, payload: dict[str, Any], *, objects: dict[str, Any] | None = None
) -> None:
    """Send `type` with `payload` to the inbox's browsers once the current transaction commits. `objects`: the
    model instances the payload describes, as they will be committed, for the renderers (see `renderers`)."""
    event = {"type": type, "account_id": account_id, "inbox_id": inbox_id, **payload}
    pending = _pending()
    if type == "conversation.updated":
        conversation_id = (payload.get("conversation") or {}).get("id")
        for earlier in pending:
            earlier_id = earlier.get("conversation_id") or (earlier.get("conversation") or {}).get("id")
            if earlier["type"] in ROW_CARRIERS and earlier_id == conversation_id:
                earlier["row_follows"] = True
    pending.append(event)

    def after_commit() -> None:
        with contextlib.suppress(ValueError):
            pending.remove(event)
        _send(account_id, inbox_id, _rendered(type, event, objects or {}))
        _tell_listeners(account_id, inbox_id, type, payload)

    transaction.on_commit(after_commit)


def _rendered(type: str, event: dict[str, Any], objects: dict[str, Any]) -> dict[str, Any]:
    out = event
    for renderer in renderers:
        try:
            out = {**out, **renderer(type, event, objects)}
        except Exception:  # the browsers then fetch what changed, as they do without the rendered parts
            logger.exception("event renderer failed for %s", type)
    return out


def announce(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """An event for the listeners only (integrations), not the browsers, once the transaction commits."""
    transaction.on_commit(lambda: _tell_listeners(account_id, inbox_id, type, payload))


def _tell_listeners(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    for listener in listeners:
        try:
            listener(account_id, inbox_id, type, payload)
        except Exception:  # a listener never fails (or undoes) the write that caused the event
            logger.exception("event listener failed for %s", type)

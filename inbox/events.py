"""Realtime events to the agents' browsers, through the channel layer, after commit.

Every event goes to the group of its inbox; the console consumer joins the groups of the inboxes its user may
see. Event types: message.created, message.updated, conversation.updated, memory.updated, typing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 5.0


class _Publisher:
    """One event loop per process, in a daemon thread, that keeps the channel layer's Redis connections open.

    `async_to_sync(group_send)` would start a fresh loop, and so a fresh connection, for every event; a worker
    publishing a few events per message spent most of its publishing time connecting."""

    def __init__(self) -> None:
        self.pid = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or self.pid != os.getpid():  # first use, or a forked child (Celery prefork)
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="realtime-publisher", daemon=True).start()
                self.loop, self.pid = loop, os.getpid()
            return self.loop

    def send(self, group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self._ensure())
        future.result(timeout=PUBLISH_TIMEOUT)


_publisher = _Publisher()


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def _send(account_id: int, inbox_id: int, event: dict[str, Any]) -> None:
    try:
        _publisher.send(inbox_group(inbox_id), {"type": "realtime.event", "event": event})
    except Exception:  # a lost live update must never undo or fail the write that caused it
        logger.exception("realtime publish failed for %s in inbox %s", event.get("type"), inbox_id)


def send_group(group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer message to any group now (outside a transaction: callers are tasks and consumers)."""
    try:
        _publisher.send(group, message)
    except Exception:
        logger.exception("realtime publish to %s failed", group)


def publish(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """Send `type` with `payload` to the inbox's browsers once the current transaction commits."""
    event = {"type": type, "account_id": account_id, "inbox_id": inbox_id, **payload}
    transaction.on_commit(lambda: _send(account_id, inbox_id, event))

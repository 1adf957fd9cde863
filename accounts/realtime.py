"""Sending to channel-layer groups from synchronous code (services, tasks), and the per-person group through
which open console sockets learn that their person's access changed (membership, role, inboxes, deactivation,
sign-out) and re-check it at once."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
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


publisher = _Publisher()


def send_group(group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer message to any group now (outside a transaction: callers are tasks and consumers)."""
    try:
        publisher.send(group, message)
    except Exception:
        logger.exception("realtime publish to %s failed", group)


def user_group(user_id: int) -> str:
    """Every console socket of one person joins this group."""
    return f"user.{user_id}"


def access_changed(user_ids: Iterable[int]) -> None:
    """After commit, tell every open console socket of these people to re-check what they may see (and close
    when they may see nothing). The sockets also re-check on their own every few seconds: a lost message
    narrows access late, never not at all."""
    ids = sorted(set(user_ids))
    if not ids:
        return

    def notify() -> None:
        for user_id in ids:
            send_group(user_group(user_id), {"type": "access.changed"})

    transaction.on_commit(notify)

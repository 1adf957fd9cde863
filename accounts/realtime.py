"""Sending to channel-layer groups from synchronous code (services, tasks), and the per-person group through
which open console sockets learn that their person's access changed (membership, role, inboxes, deactivation,
sign-out) and re-check it at once."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 5.0
PUBLISH_BACKLOG = 1000  # events waiting for Redis in one process; past this (Redis away) new ones are dropped


class _Publisher:
    """One event loop per process, in a daemon thread, that keeps the channel layer's Redis connections open and
    sends what the process publishes, in order, while the caller goes on.

    `async_to_sync(group_send)` would start a fresh loop, and so a fresh connection, for every event; a worker
    publishing a few events per message spent most of its publishing time connecting. Waiting for each send then
    still cost the inbound task about an eighth of its time under load (py-spy on the production layout,
    docs/performance.md): the task now hands the event over and goes on to its next step or message. A lost live
    update is already tolerated (the browsers re-fetch on reconnect and the sockets re-check access on their own),
    so one in flight when a process exits, or dropped while Redis is away, costs what it did before."""

    def __init__(self) -> None:
        self.pid = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        self.lock = threading.Lock()

    def _ensure(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[tuple[str, dict[str, Any]]]]:
        with self.lock:
            if self.loop is None or self.queue is None or self.pid != os.getpid():  # first use, or a forked child
                loop = asyncio.new_event_loop()
                queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=PUBLISH_BACKLOG)
                threading.Thread(target=loop.run_forever, name="realtime-publisher", daemon=True).start()
                asyncio.run_coroutine_threadsafe(self._drain(queue), loop)
                self.loop, self.queue, self.pid = loop, queue, os.getpid()
            return self.loop, self.queue

    async def _drain(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        """One send at a time, in the order published: a row never arrives before the message it follows."""
        while True:
            group, message = await queue.get()
            try:
                layer = get_channel_layer()
                if layer is not None:
                    await asyncio.wait_for(layer.group_send(group, message), PUBLISH_TIMEOUT)
            except Exception:  # a lost live update never undoes or fails the write that caused it
                logger.exception("realtime publish to %s failed", group)
            finally:
                queue.task_done()

    def send(self, group: str, message: dict[str, Any]) -> None:
        if get_channel_layer() is None:
            return
        loop, queue = self._ensure()
        loop.call_soon_threadsafe(self._put, queue, group, message)

    @staticmethod
    def _put(queue: asyncio.Queue[tuple[str, dict[str, Any]]], group: str, message: dict[str, Any]) -> None:
        try:
            queue.put_nowait((group, message))
        except asyncio.QueueFull:
            logger.warning("realtime backlog full (%s events): an event to %s dropped", PUBLISH_BACKLOG, group)

    def flush(self, timeout: float = PUBLISH_TIMEOUT) -> bool:
        """Wait until what this process published so far was sent (or failed). For a short-lived process that
        publishes and exits, and for tests."""
        if self.loop is None or self.queue is None or self.pid != os.getpid():
            return True
        try:
            asyncio.run_coroutine_threadsafe(self.queue.join(), self.loop).result(timeout=timeout)
        except TimeoutError:
            return False
        return True


publisher = _Publisher()
# A short-lived process (a management command) sends what it published before it exits; a worker killed with
# os._exit (Celery's prefork children) does not run this, and loses at most what was in flight.
atexit.register(publisher.flush, 2.0)


def send_group(group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer message to any group, soon and in order, without waiting for Redis (outside a
    transaction: callers are tasks and consumers)."""
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

"""Reading a team's own mailbox (an email endpoint with provider `imap`): beat polls every mailbox; each new email
is stored as an inbound event exactly like a posted raw-MIME email (same key, same task, same replay), and the
cursor remembers the folder's UIDVALIDITY and last UID so nothing is read twice or missed."""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

from accounts.locks import advisory_session_try_lock

from .adapters import email, imap
from .intake import store_and_enqueue
from .models import ChannelEndpoint, MailboxCursor, Provider

logger = logging.getLogger(__name__)


def _store(endpoint: ChannelEndpoint, data: bytes) -> int | None:
    """The email as an inbound event, queued (once: the key is its Message-ID and content); its id when new."""
    payload = {"format": "mime", "mime": base64.b64encode(data).decode()}
    return store_and_enqueue(endpoint, "email", email.idempotency_key(payload), payload)


def mailbox_poll(endpoint: ChannelEndpoint) -> int:
    """Read what arrived since the last poll; returns how many emails were taken. Failures are kept on the cursor
    (shown to admins) and raised as MailboxError."""
    cursor = _cursor(endpoint)
    try:
        with imap.session(endpoint) as connection:
            return _take(endpoint, cursor, connection)
    except imap.MailboxError as exc:
        MailboxCursor.objects.filter(pk=cursor.pk).update(error=str(exc)[:500], polled_at=timezone.now())
        raise


def _cursor(endpoint: ChannelEndpoint) -> MailboxCursor:
    cursor, _ = MailboxCursor.objects.get_or_create(
        endpoint=endpoint,
        defaults={"account_id": endpoint.account_id, "folder": str(endpoint.options.get("folder") or "INBOX")},
    )
    return cursor


def _take(endpoint: ChannelEndpoint, cursor: MailboxCursor, connection: Any) -> int:
    """Read the new emails on an open connection, store them, move the cursor (the folder stays selected)."""
    batch = imap.read_new(
        connection,
        cursor.folder,
        uidvalidity=cursor.uidvalidity,
        last_uid=cursor.last_uid,
        last_read=cursor.polled_at.date() if cursor.polled_at else None,
    )
    stored = [event_id for fetched in batch.emails if (event_id := _store(endpoint, fetched.data)) is not None]
    if cursor.uidvalidity is None:
        last = batch.uidnext - 1  # connected now: mail from here on
    else:
        last = max([cursor.last_uid if cursor.uidvalidity == batch.uidvalidity else 0]
                   + [f.uid for f in batch.emails] + batch.too_large)  # fmt: skip
    error = ""
    if batch.too_large:
        error = f"Emails with UIDs {', '.join(map(str, batch.too_large[:10]))} are larger than the limit; not read."
    MailboxCursor.objects.filter(pk=cursor.pk).update(
        uidvalidity=batch.uidvalidity, last_uid=max(last, 0), polled_at=timezone.now(), error=error,
        taken=cursor.taken + len(stored),
    )  # fmt: skip
    return len(stored)


# --- IDLE: the server tells us at once ---------------------------------------------------------------------


NO_IDLE_RECHECK_SECONDS = 3600.0


def watch(endpoint_id: int, stop: threading.Event, *, idle_seconds: float) -> None:
    """Hold one mailbox in IDLE and take each email as the server announces it (until `stop`, or the mailbox is
    disabled or removed). A server without IDLE is left to beat's polling; a failure reconnects with backoff."""
    backoff = 5.0
    try:
        while not stop.is_set():
            endpoint = ChannelEndpoint.objects.filter(pk=endpoint_id, provider=Provider.IMAP, enabled=True).first()
            if endpoint is None:
                return
            cursor = _cursor(endpoint)
            try:
                with imap.session(endpoint) as connection:
                    idle = imap.has_idle(connection)
                    if idle:
                        backoff = 5.0
                    while idle and not stop.is_set():
                        with advisory_session_try_lock(f"mailbox:{endpoint.pk}") as claimed:
                            if claimed:  # else beat's poll is reading it right now, and takes what is new
                                cursor.refresh_from_db()  # the poll may have moved it meanwhile
                                _take(endpoint, cursor, connection)
                            else:
                                imap.open_folder(connection, cursor.folder)
                        imap.idle_wait(connection, idle_seconds, stop)
                if not idle:
                    # left to beat's poll; the thread stays (one that ended would be started, and log in, again
                    # at every rescan) and asks the server again in an hour
                    stop.wait(NO_IDLE_RECHECK_SECONDS)
            except (imap.MailboxError, OSError) as exc:
                MailboxCursor.objects.filter(pk=cursor.pk).update(error=str(exc)[:500])
                logger.warning("mailbox %s: %s; again in %.0f s", endpoint_id, exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 300.0)
    finally:
        close_old_connections()


def watch_all(stop: threading.Event, *, idle_seconds: float = 300.0, rescan_seconds: float = 60.0) -> None:
    """One IDLE watcher thread per enabled mailbox, the list re-read every `rescan_seconds` (a new mailbox is
    watched within a minute; a removed one's thread ends)."""
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set():
        mailboxes = ChannelEndpoint.objects.filter(kind="email", provider=Provider.IMAP, enabled=True)
        ids = list(mailboxes.values_list("pk", flat=True))
        close_old_connections()
        for endpoint_id in ids:
            if endpoint_id not in threads or not threads[endpoint_id].is_alive():
                thread = threading.Thread(
                    target=watch, args=(endpoint_id, stop), kwargs={"idle_seconds": idle_seconds},
                    name=f"mailbox-{endpoint_id}", daemon=True,
                )  # fmt: skip
                thread.start()
                threads[endpoint_id] = thread
        stop.wait(rescan_seconds)
    for thread in threads.values():
        thread.join(timeout=10)


def poll_all() -> dict[str, int]:
    """Every enabled mailbox, one poller at a time each (a slow server never doubles up)."""
    totals = {"mailboxes": 0, "emails": 0, "failed": 0}
    for endpoint in ChannelEndpoint.objects.filter(kind="email", provider=Provider.IMAP, enabled=True):
        with advisory_session_try_lock(f"mailbox:{endpoint.pk}") as claimed:
            if not claimed:
                continue
            try:
                totals["emails"] += mailbox_poll(endpoint)
                totals["mailboxes"] += 1
            except imap.MailboxError as exc:
                totals["failed"] += 1
                logger.warning("mailbox %s could not be read: %s", endpoint.pk, exc)
    return totals


def keep_sent(endpoint: ChannelEndpoint, data: bytes) -> str:
    """A reply's copy in the mailbox's Sent folder; returns "" or why it could not be kept (the reply went out)."""
    cursor = MailboxCursor.objects.filter(endpoint=endpoint).first()
    try:
        folder = imap.append_sent(endpoint, data, cursor.sent_folder if cursor is not None else "")
    except imap.MailboxError as exc:
        return str(exc)
    if cursor is not None and cursor.sent_folder != folder:
        MailboxCursor.objects.filter(pk=cursor.pk).update(sent_folder=folder)
    return ""

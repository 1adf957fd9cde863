"""A team's own mailbox over IMAP (imaplib, through the outbound guard): log in, read what arrived since the last
UID, and keep a copy of each reply in the Sent folder. Credentials: imap_host, imap_port (993), imap_security
(ssl, starttls or none), username, password (an app password), and optionally smtp_* for sending."""

from __future__ import annotations

import imaplib
import re
import select
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings

from accounts import outbound

from ..credentials import credentials_get
from ..models import ChannelEndpoint

SECURITY = ("ssl", "starttls", "none")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # IMAP dates, any locale
BATCH = 50  # emails read per poll; the rest wait for the next one (a new mailbox is read from connection on)
TIMEOUT = 30
_LIST_LINE = re.compile(rb'\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$')


class MailboxError(Exception):
    """The mailbox could not be read (refused login, unreachable server, a folder that does not exist)."""


@dataclass(frozen=True)
class Fetched:
    uid: int
    data: bytes


@dataclass(frozen=True)
class Batch:
    uidvalidity: int
    uidnext: int
    emails: list[Fetched]
    too_large: list[int]  # UIDs over EMAIL_MAX_BYTES, not read (named on the cursor)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@contextmanager
def session(endpoint: ChannelEndpoint) -> Iterator[imaplib.IMAP4]:
    """A logged-in IMAP connection to the endpoint's mailbox, closed afterwards. Raises MailboxError in words."""
    credentials = credentials_get(endpoint)
    host, security = str(credentials.get("imap_host", "")), str(credentials.get("imap_security") or "ssl")
    port = int(credentials.get("imap_port") or (993 if security == "ssl" else 143))
    try:
        if security == "ssl":
            connection: imaplib.IMAP4 = outbound.GuardedIMAP4SSL(
                host, port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT
            )
        else:
            connection = outbound.GuardedIMAP4(host, port, timeout=TIMEOUT)
            if security == "starttls":
                connection.starttls(ssl.create_default_context())
        connection.login(str(credentials.get("username", "")), str(credentials.get("password", "")))
    except outbound.OutboundRefused as exc:
        raise MailboxError(f"This IMAP server is not allowed: {exc.reason}") from None
    except imaplib.IMAP4.error as exc:
        raise MailboxError(f"The IMAP server refused the login: {_text(exc.args[0] if exc.args else exc)}") from None
    except (OSError, ssl.SSLError) as exc:
        raise MailboxError(f"Could not reach the IMAP server {host}:{port} ({type(exc).__name__}).") from None
    try:
        yield connection
    finally:
        with suppress(imaplib.IMAP4.error, OSError):
            connection.logout()


def _ok(answer: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        raise MailboxError(f"The IMAP server refused to {what}: {_text(data[0] if data else status)}")
    return data


def _status_number(connection: imaplib.IMAP4, name: str) -> int:
    found = connection.response(name)[1]
    try:
        return int(_text(found[0])) if found and found[0] is not None else 0
    except ValueError:
        return 0


def open_folder(connection: imaplib.IMAP4, folder: str) -> None:
    """Select the folder read-only (nothing we do there marks mail read or moves it)."""
    _ok(connection.select(_quote(folder), readonly=True), f"open the folder {folder!r}")


def read_new(
    connection: imaplib.IMAP4, folder: str, *, uidvalidity: int | None, last_uid: int, last_read: date | None = None
) -> Batch:
    """The emails after `last_uid` in `folder` (read without marking them seen). A first read starts from now
    (UIDNEXT). After the server renumbered the folder (another UIDVALIDITY), the UIDs mean nothing: the mail that
    arrived since the day before `last_read` is read again (the stored events' keys keep each email once), never
    the whole history."""
    open_folder(connection, folder)
    validity = _status_number(connection, "UIDVALIDITY")
    uidnext = _status_number(connection, "UIDNEXT")
    if uidvalidity is None:
        return Batch(validity, uidnext, [], [])  # connected just now: what arrives from here on
    since = last_uid if uidvalidity == validity else 0
    criteria = f"UID {since + 1}:*"
    if uidvalidity != validity:
        day = (last_read or date.today()) - timedelta(days=1)
        criteria = f"SINCE {day.day:02d}-{MONTHS[day.month - 1]}-{day.year}"
    uids = [int(u) for u in _text(_ok(connection.uid("SEARCH", criteria), "search")[0]).split()]
    uids = sorted(u for u in uids if u > since)[:BATCH]  # "n:*" names the last message even when none is newer
    emails, too_large = [], []
    for uid in uids:
        sizes = _ok(connection.uid("FETCH", str(uid), "(RFC822.SIZE)"), "read a size")
        size = re.search(rb"RFC822\.SIZE (\d+)", sizes[0] if isinstance(sizes[0], bytes) else b"")
        if size and int(size.group(1)) > settings.EMAIL_MAX_BYTES:
            too_large.append(uid)
            continue
        parts = _ok(connection.uid("FETCH", str(uid), "(BODY.PEEK[])"), "read an email")
        body = next((part[1] for part in parts if isinstance(part, tuple) and len(part) > 1), None)
        if isinstance(body, bytes):
            emails.append(Fetched(uid, body))
    return Batch(validity, uidnext, emails, too_large)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sent_folder(connection: imaplib.IMAP4) -> str:
    """The folder the server marks \\Sent (RFC 6154), else one named like it, else "Sent"."""
    names = []
    for line in _ok(connection.list(), "list the folders"):
        found = _LIST_LINE.match(line) if isinstance(line, bytes) else None
        if not found:
            continue
        name = found["name"].decode(errors="replace").strip().strip('"')
        if b"\\sent" in found["flags"].lower():
            return name
        names.append(name)
    for wanted in ("Sent", "Sent Items", "Sent Messages", "INBOX.Sent", "[Gmail]/Sent Mail"):
        if wanted in names:
            return wanted
    return "Sent"


def append_sent(endpoint: ChannelEndpoint, data: bytes, folder: str = "") -> str:
    """Keep a copy of a sent email in the mailbox's Sent folder (marked read); returns the folder used."""
    with session(endpoint) as connection:
        folder = folder or sent_folder(connection)
        date = imaplib.Time2Internaldate(time.time())
        _ok(connection.append(_quote(folder), "(\\Seen)", date, data), f"save the reply in {folder!r}")
    return folder


def has_idle(connection: imaplib.IMAP4) -> bool:
    return "IDLE" in connection.capabilities


def check(endpoint: ChannelEndpoint) -> str:
    """Log in, open the folder and find the Sent folder: what an admin should know. Raises MailboxError."""
    folder = str(endpoint.options.get("folder") or "INBOX")
    with session(endpoint) as connection:
        _ok(connection.select(_quote(folder), readonly=True), f"open the folder {folder!r}")
        count = _status_number(connection, "EXISTS")
        sent = sent_folder(connection)
        idle = " It announces new mail at once (IDLE)." if has_idle(connection) else ""
    return (
        f"Logged in to the mailbox: {folder} holds {count} emails; new ones are read from now on, and replies are "
        f"kept in {sent}.{idle}"
    )


IDLE_RENEW = 25 * 60  # RFC 2177: a client re-issues IDLE at least every 29 minutes


def idle_wait(connection: imaplib.IMAP4, seconds: float, stop: Any = None) -> bool:
    """IDLE (RFC 2177) for up to `seconds`, or until `stop` (a threading.Event) is set: True when the server
    announced new mail (EXISTS). The connection has a folder selected and is usable afterwards."""
    tag = connection._new_tag().decode()  # type: ignore[attr-defined]
    connection.send(f"{tag} IDLE\r\n".encode())
    first = connection.readline()
    if not first.startswith(b"+"):
        raise MailboxError(f"The IMAP server refused IDLE: {_text(first).strip()}")
    sock = connection.socket()
    deadline = time.monotonic() + min(seconds, IDLE_RENEW)
    arrived = False
    try:
        while not arrived and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            pending = getattr(sock, "pending", lambda: 0)()  # TLS may hold a decrypted line already
            ready = pending or select.select([sock], [], [], min(1.0, max(0.0, deadline - time.monotonic())))[0]
            if not ready:
                continue
            line = connection.readline()
            if not line:
                raise MailboxError("The IMAP server closed the connection while idling.")
            arrived = b"EXISTS" in line.upper() or b"RECENT" in line.upper()
    finally:
        connection.send(b"DONE\r\n")
        while True:  # the server ends IDLE with the tagged OK (untagged lines may come first)
            line = connection.readline()
            if not line or line.startswith(tag.encode()):
                break
    return arrived

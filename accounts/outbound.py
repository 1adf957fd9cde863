"""The one door for every server-side request to an address a tenant can influence (provider media and
recordings, the LLM, SMTP servers, outbound webhooks): public addresses only, checked on the socket itself.

Why on the socket: a host name is checked once when a URL is saved and again when a connection is made; a
name that resolved to a public address yesterday (or a redirect, or a second DNS answer) can point inside the
network today. So every connection these helpers open looks at the peer address it actually reached and closes
it unless that address is public (`ipaddress`' `is_global`, which knows RFC 6890's special-purpose registry:
private, loopback, link-local and so the cloud metadata address 169.254.169.254, shared, documentation, ...).
The only way past is an operator setting, `OUTBOUND_ALLOWED_INTERNAL_HOSTS`, naming a host (or host:port) a
self-hosted service runs on, plus the host of `TWILIO_API_BASE_URL` (a sandbox or test double the operator
chose). Tenant input never widens it.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import smtplib
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.template.defaultfilters import filesizeformat
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

SMTP_PORTS = frozenset({25, 465, 587, 2525})
FETCH_SECONDS = 45.0  # a download, whole: the 25 MB attachment cap at about 570 KB/s


class OutboundRefused(Exception):
    """A request we will not make (an internal address, a host that is not the provider's, a port...) or an
    answer we will not take (too large). Permanent: retrying gives the same answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooLarge(OutboundRefused):
    pass


def _internal_allowed(host: str, port: int | None) -> bool:
    host = host.strip("[]").lower()
    allowed = {entry.lower() for entry in settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS}
    # The provider APIs' base URLs are the operator's (a regional edge, a test double): allowed as configured.
    for base in (settings.TWILIO_API_BASE_URL, settings.META_GRAPH_BASE_URL):
        sandbox = urlsplit(base or "")
        if sandbox.hostname:
            allowed.add(f"{sandbox.hostname.lower()}:{sandbox.port or (443 if sandbox.scheme == 'https' else 80)}")
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def address_refusal(address: str) -> str | None:
    """Why a connection to this IP address is refused, or None when it is a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public address"
    return None


class DeadlinePassed(OutboundRefused):
    """The exchange took longer than its `within` allowed; its connections were cut."""


@dataclass
class _Watch:
    """The connections opened inside one `within`, and whether its time ran out."""

    seconds: float
    what: str
    sockets: list[socket.socket] = field(default_factory=list)
    cut: threading.Event = field(default_factory=threading.Event)

    def passed(self) -> DeadlinePassed:
        return DeadlinePassed(f"{self.what} took longer than {self.seconds:g} s; the connection was cut.")

    def cut_all(self) -> None:
        self.cut.set()
        for sock in list(self.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once, in the thread waiting on it


# The innermost `within` of this thread (every guarded connection passes check_peer, which registers it there).
_WATCH: ContextVar[_Watch | None] = ContextVar("outbound_watch", default=None)


@contextlib.contextmanager
def within(seconds: float, what: str) -> Iterator[None]:
    """Every connection opened inside is cut once `seconds` have passed since it began, and none is opened after,
    whatever the server does: a socket's timeout bounds each read, so a server answering a byte at a time under it
    would hold a worker for as long as it likes. Raises DeadlinePassed, naming `what`, when it cut them, also when
    what was read looks whole (a cut reads as the end of an answer)."""
    watch = _Watch(seconds, what)
    token = _WATCH.set(watch)
    timer = threading.Timer(seconds, watch.cut_all)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as exc:
        if watch.cut.is_set() and not isinstance(exc, DeadlinePassed):
            raise watch.passed() from exc
        raise
    finally:
        timer.cancel()
        _WATCH.reset(token)
    if watch.cut.is_set():  # a cut can look like an answer that ended early: none is taken
        raise watch.passed()


def check_peer(sock: socket.socket, host: str, port: int | None) -> None:
    """Close and refuse a connected socket whose peer is not public (unless the operator allowed the host); a
    socket kept is watched by the current `within`."""
    watch = _WATCH.get()
    if watch is not None:
        if watch.cut.is_set():  # a retry after the time ran out
            sock.close()
            raise watch.passed()
        watch.sockets.append(sock)
    if _internal_allowed(host, port):
        return
    peer = sock.getpeername()[0]
    reason = address_refusal(peer)
    if reason:
        sock.close()
        raise OutboundRefused(f"{host} resolves to {peer}: {reason}; requests go to public addresses only.")


def check_host(host: str, port: int) -> None:
    """Resolve a host and refuse it when any of its addresses is internal: for a clear answer when a URL or a
    server is saved (the socket check still applies when it is used)."""
    if not host:
        raise OutboundRefused("The address has no host name.")
    if _internal_allowed(host, port):
        return
    try:
        answers = socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"{host} could not be resolved ({exc}).") from None
    for *_, sockaddr in answers:
        reason = address_refusal(str(sockaddr[0]))
        if reason:
            raise OutboundRefused(f"{host} resolves to {sockaddr[0]}: {reason}; only public addresses are allowed.")


def check_url(url: str, *, hosts: Sequence[str] | None = None) -> None:
    """Refuse a URL that is not http(s), names a host outside `hosts` (when given) or resolves inside."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise OutboundRefused(f"Only http and https addresses are allowed, not {parts.scheme or 'no scheme'!r}.")
    if parts.username or parts.password:
        raise OutboundRefused("The address may not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused("The address has an invalid port.") from None
    host = (parts.hostname or "").lower()
    if hosts is not None and not host_matches(host, hosts):
        raise OutboundRefused(f"{host or 'the address'} is not one of the provider's hosts.")
    check_host(host, port)


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """`api.twilio.com` matches itself; `.twilio.com` matches any name under twilio.com."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower()
        if (pattern.startswith(".") and host.endswith(pattern)) or host == pattern:
            return True
    return False


# --- HTTP through requests ------------------------------------------------------------------------------------


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        check_peer(sock, self.host, self.port)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        check_peer(sock, self.host, self.port)
        return sock


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def session() -> requests.Session:
    """A requests session whose every connection is checked; no proxies from the environment (a proxy would
    make the peer check look at the proxy), no redirects unless the caller follows them itself."""
    http = requests.Session()
    http.trust_env = False
    http.mount("http://", _GuardedAdapter())
    http.mount("https://", _GuardedAdapter())
    return http


@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str
    url: str


def fetch(
    url: str,
    *,
    hosts: Sequence[str] | None,
    auth: tuple[str, str] | None = None,
    max_bytes: int,
    timeout: tuple[float, float] = (5.0, 30.0),
    total: float = FETCH_SECONDS,
    max_redirects: int = 3,
) -> Fetched:
    """GET a URL whose host is in `hosts` (None: any public host), sending `auth` only to those hosts, following
    at most `max_redirects` redirects (each re-checked; credentials dropped off the provider's hosts) and reading
    at most `max_bytes` of the *decoded* body (a gzip bomb stops at the cap, not after it expanded), all within
    `total` seconds (DeadlinePassed)."""
    check_url(url, hosts=hosts)
    http = session()
    try:
        with within(total, "Downloading the file"):
            for _ in range(max_redirects + 1):
                send_auth = auth if hosts is not None and host_matches(urlsplit(url).hostname or "", hosts) else None
                try:
                    response = http.get(url, auth=send_auth, timeout=timeout, stream=True, allow_redirects=False)
                except requests.exceptions.ConnectionError as exc:
                    refusal = _refusal_in(exc)
                    if refusal is not None:
                        raise refusal from None
                    raise
                if response.is_redirect:
                    location = urljoin(url, response.headers.get("Location", ""))
                    response.close()
                    check_url(location)  # anywhere public; the credentials stay with the provider's hosts
                    url = location
                    continue
                response.raise_for_status()
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    response.close()
                    size_text, limit_text = filesizeformat(int(declared)), filesizeformat(max_bytes)
                    raise TooLarge(f"The file is {size_text}; at most {limit_text} is kept.")
                chunks, size = [], 0
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        response.close()
                        raise TooLarge(f"The file is larger than {filesizeformat(max_bytes)}; it was not kept.")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), response.headers.get("Content-Type", ""), url)
            raise OutboundRefused(f"More than {max_redirects} redirects.")
    finally:
        http.close()


def _refusal_in(exc: BaseException) -> OutboundRefused | None:
    """requests wraps what our connection raised; find our refusal in the chain."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, OutboundRefused):
            return seen
        reason = getattr(seen, "reason", None)
        if isinstance(reason, OutboundRefused):
            return reason
        nxt = seen.__cause__ or seen.__context__
        if nxt is None and seen.args and isinstance(seen.args[0], BaseException):
            nxt = seen.args[0]
        seen = nxt
    return None


# --- HTTP through httpx (the OpenAI SDK) ----------------------------------------------------------------------


def httpx_client(timeout: float) -> Any:
    """An httpx client for the OpenAI SDK whose connections are checked like the others."""
    import httpcore2
    import httpx2
    from httpcore2._backends.sync import SyncBackend

    class GuardedBackend(SyncBackend):
        def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            stream = super().connect_tcp(host, port, *args, **kwargs)
            sock = stream.get_extra_info("socket")
            try:
                check_peer(sock, host, port)
            except OutboundRefused as exc:
                raise httpcore2.ConnectError(exc.reason) from exc
            return stream

    transport = httpx2.HTTPTransport(trust_env=False)
    # The transport builds its own pool; the same pool with a checking network backend replaces it.
    ssl_context = transport._pool._ssl_context
    # No connection is kept between calls: each call's connections are opened inside its `within`, which cuts them.
    transport._pool = httpcore2.ConnectionPool(
        ssl_context=ssl_context, network_backend=GuardedBackend(), max_keepalive_connections=0
    )
    return httpx2.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


# --- SMTP -----------------------------------------------------------------------------------------------------


def check_smtp_server(host: str, port: int) -> None:
    if port not in SMTP_PORTS:
        raise OutboundRefused(f"SMTP port {port} is not allowed; use 587 (STARTTLS), 465 (TLS), 25 or 2525.")
    check_host(host, port)


class _GuardedSMTP(smtplib.SMTP):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        check_peer(sock, host, port)
        return sock


class _GuardedSMTPSSL(smtplib.SMTP_SSL):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        check_peer(sock, host, port)
        return sock


# --- IMAP -----------------------------------------------------------------------------------------------------

IMAP_PORTS = frozenset({993, 143})


def check_imap_server(host: str, port: int) -> None:
    if port not in IMAP_PORTS and not _internal_allowed(host, port):
        raise OutboundRefused(f"IMAP port {port} is not allowed; use 993 (TLS) or 143 (STARTTLS).")
    check_host(host, port)


class GuardedIMAP4(imaplib.IMAP4):
    """imaplib's client for a tenant's own mailbox: a mail port, and only a public address (checked on the
    socket, after DNS, so a name that resolves inside is refused however it was saved)."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        check_imap_server(self.host, self.port)
        sock = super()._create_socket(timeout)  # type: ignore[misc]
        check_peer(sock, self.host, self.port)
        return sock


class GuardedIMAP4SSL(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout: float | None) -> socket.socket:
        check_imap_server(self.host, self.port)
        sock = imaplib.IMAP4._create_socket(self, timeout)  # type: ignore[attr-defined]
        check_peer(sock, self.host, self.port)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[no-any-return]


class GuardedSMTPBackend(EmailBackend):
    """Django's SMTP backend for a tenant's own mail server: the port must be a mail port and the connection
    must reach a public address."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:  # type: ignore[override]
        return _GuardedSMTPSSL if self.use_ssl else _GuardedSMTP

    def open(self) -> bool | None:
        check_smtp_server(self.host, int(self.port))
        return super().open()

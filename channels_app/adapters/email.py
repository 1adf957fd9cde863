"""Email: inbound from SendGrid Inbound Parse, Mailgun routes, Postmark inbound webhooks or raw MIME, read into
one shape; threading tokens; outbound through Django's email backend with proper Message-ID headers.

Every provider's post is checked before it is stored: Mailgun signs timestamp + token with HMAC-SHA256 (a stale
timestamp or a token reused for another message is refused); SendGrid, Postmark and raw MIME authenticate with
the endpoint's webhook secret, as the password of HTTP basic auth in the URL or as `?secret=`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import re
import smtplib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import errors, message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid, parseaddr
from functools import partial
from typing import Any

import nh3
from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.crypto import salted_hmac
from django.utils.html import escape, linebreaks, urlize
from email_reply_parser import EmailReplyParser

from accounts import outbound
from accounts.errors import ServiceError
from accounts.text import clean_text

from .. import sandbox
from ..credentials import credentials_get
from ..models import ChannelEndpoint
from . import imap

logger = logging.getLogger(__name__)
PROVIDERS = ("sendgrid", "mailgun", "postmark", "mime")
MAILGUN_MAX_AGE = 300  # seconds: Mailgun's signature is refused after this (a replay)
MAX_HTML = 200_000
MAX_REFUSED_NAMED = 50  # files not kept are named on the message up to this many, then counted
REPLY_TOKEN = re.compile(r"reply\+(\d+)\.([0-9a-f]{16})@", re.IGNORECASE)
MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class MalformedEmail(Exception):
    """Authenticated, but not an email we can read: kept, marked failed, replayable."""


class Refused(Exception):
    """The post is not from the provider (bad signature or secret, stale or reused token): 403, nothing stored."""


@dataclass
class InboundEmail:
    message_id: str
    sender: str
    sender_name: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (filename, content type, data)
    refused: list[str] = field(default_factory=list)  # files not kept, each with the reason
    headers: dict[str, str] = field(default_factory=dict)  # raw header values by lower-case name (first of each)
    forwarded: list[dict[str, str]] = field(default_factory=list)  # attached emails (message/rfc822), read
    signed: str = ""  # "PGP" or "S/MIME" when the email carried a signature part (not a file the sender attached)
    repaired: str = ""  # what a lenient read had to mend ("" when the email parsed cleanly)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this email answers, nearest first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        return ids + [ref for ref in reversed(self.references) if ref not in ids]


def webhook_url(endpoint: ChannelEndpoint) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/email/{endpoint.public_id}/{endpoint.provider}"


# --- Checking the post ---------------------------------------------------------------------------------------


def verify(request: HttpRequest, endpoint: ChannelEndpoint) -> None:
    """Raise Refused unless the post comes from the endpoint's provider."""
    credentials = credentials_get(endpoint)
    if endpoint.provider == "mailgun":
        _verify_mailgun(request, str(credentials.get("signing_key", "")))
        return
    secret = str(credentials.get("webhook_secret", ""))
    # A header (basic auth's password, or X-Webhook-Secret) keeps the secret out of access logs; `?secret=` is
    # still taken from older setups, and the logs redact query strings (docs/security.md).
    given = request.headers.get("X-Webhook-Secret", "") or request.GET.get("secret", "")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            given = base64.b64decode(auth[6:].strip()).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            raise Refused("The Authorization header is not valid basic auth.") from None
    if not secret or not given or not hmac.compare_digest(given.encode(), secret.encode()):
        raise Refused("Missing or wrong webhook secret.")


def _verify_mailgun(request: HttpRequest, signing_key: str) -> None:
    form = request.POST
    timestamp, token, signature = form.get("timestamp", ""), form.get("token", ""), form.get("signature", "")
    if not (signing_key and timestamp and token and signature):
        raise Refused("Mailgun posts carry timestamp, token and signature.")
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Refused("The Mailgun signature does not match.")
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise Refused("The Mailgun timestamp is not a number.") from None
    if age > MAILGUN_MAX_AGE:
        raise Refused(f"The Mailgun timestamp is {int(age)} s off; the limit is {MAILGUN_MAX_AGE} s (a replay?).")


def mailgun_token_claim(endpoint: ChannelEndpoint, token: str, key: str) -> None:
    """A Mailgun token signs one message: the same message again is a retry (fine, stored once), but the token
    on another message is a replay of a captured signature. Raises Refused for that."""
    name = f"mailgun-token:{endpoint.pk}:{hashlib.sha256(token.encode()).hexdigest()}"
    try:
        if not cache.add(name, key, timeout=MAILGUN_MAX_AGE * 3) and cache.get(name) != key:
            raise Refused("This Mailgun token was already used for another message.")
    except Refused:
        raise
    except Exception:  # Redis is down: the email is still taken (signed, and at most 5 minutes old)
        logger.warning("could not check Mailgun token reuse for endpoint %s; accepted on its signature", endpoint.pk)


# --- Storing the post as received ----------------------------------------------------------------------------


# Form posts are read byte for byte (ISO-8859-1 maps every byte to one character): raw MIME may be 8-bit in any
# charset, and SendGrid names each field's charset in `charsets`; decoding as UTF-8 first would garble both.
FORM_BYTES = "iso-8859-1"
RAW_MIME_FIELDS = ("email", "body-mime")  # SendGrid's "POST the raw, full MIME message", Mailgun's mime routes


def read_as_bytes(request: HttpRequest) -> None:
    """Call before anything reads request.POST: form fields then keep their bytes for raw_payload to decode."""
    request.encoding = FORM_BYTES


def _field_text(value: str, charset: str) -> str:
    data = value.encode(FORM_BYTES, "replace")
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset name Python does not know
        return data.decode("utf-8", "replace")


def raw_payload(request: HttpRequest, endpoint: ChannelEndpoint) -> dict[str, Any]:
    """What the provider posted, in a form that fits a JSON column (files and raw MIME base64-encoded)."""
    if endpoint.provider == "postmark":
        try:
            return {"format": "postmark", "json": json.loads(request.body)}
        except ValueError:
            # kept whole (the body size is capped before this): a fixed parser can replay it
            return {"format": "postmark", "unreadable": request.body.decode("utf-8", "replace")}
    if endpoint.provider == "mime" and not (request.content_type or "").startswith(("multipart/", "application/x-www")):
        return {"format": "mime", "mime": base64.b64encode(request.body).decode()}
    as_bytes = request.encoding == FORM_BYTES
    try:
        charsets = json.loads(request.POST.get("charsets", "{}")) if as_bytes else {}
    except ValueError:
        charsets = {}
    if not isinstance(charsets, dict):
        charsets = {}
    fields: dict[str, str] = {}
    payload: dict[str, Any] = {"format": endpoint.provider}
    for key in request.POST:
        value = request.POST.get(key, "")
        if as_bytes and key in RAW_MIME_FIELDS and value:
            payload["mime"] = base64.b64encode(value.encode(FORM_BYTES, "replace")).decode()
            continue
        fields[key] = _field_text(value, str(charsets.get(key) or "utf-8")) if as_bytes else value
    payload["fields"] = fields
    payload["files"] = [
        {
            "field": name,
            "name": upload.name or name,
            "content_type": upload.content_type or "",
            "data": base64.b64encode(upload.read()).decode(),
        }
        for name in request.FILES
        for upload in request.FILES.getlist(name)
    ]
    return payload


def _message_id(payload: dict[str, Any]) -> str:
    """The Message-ID from the headers alone: the webhook view must not decode bodies and attachments."""
    kind, fields = payload.get("format"), payload.get("fields") or {}
    raw = ""
    if kind == "postmark" and isinstance(payload.get("json"), dict):
        headers = payload["json"].get("Headers") or []
        raw = next((str(h.get("Value", "")) for h in headers if str(h.get("Name", "")).lower() == "message-id"), "")
        if not raw and payload["json"].get("MessageID"):
            raw = f"<{payload['json']['MessageID']}@inbound.postmarkapp.com>"
    elif kind == "mailgun" and fields.get("Message-Id"):
        raw = fields["Message-Id"]
    else:
        mime = fields.get("email") or fields.get("body-mime") or ""
        if payload.get("mime"):
            try:
                mime = base64.b64decode(payload["mime"]).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                mime = ""
        head = (mime or fields.get("headers", "")).replace("\r\n", "\n").split("\n\n", 1)[0]
        raw = _header_lines(head).get("message-id", "")
    return (_ids(raw) or [""])[0]


# Fields a provider changes from one delivery attempt of the same email to the next (Mailgun signs each post).
_VOLATILE_FIELDS = frozenset({"timestamp", "token", "signature"})


def _content_digest(payload: dict[str, Any]) -> str:
    """What the email says, hashed: a provider's retry of one email has the same; another email has another."""
    fields = {k: v for k, v in (payload.get("fields") or {}).items() if k not in _VOLATILE_FIELDS}
    content = {**payload, "fields": fields}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:24]


def idempotency_key(payload: dict[str, Any]) -> str:
    """The email's Message-ID with a digest of its content: a provider's retry is the same event, while another
    email that reuses a Message-ID (mail software does) is its own event, never dropped as a retry."""
    message_id = _message_id(payload)
    digest = _content_digest(payload)
    if message_id:
        return f"email:{digest}:{message_id}"[:200]
    return f"no-id:{digest}"


# --- Reading it ----------------------------------------------------------------------------------------------


def parse(payload: dict[str, Any]) -> InboundEmail:
    mail = _parse(payload)
    early = [str(reason) for reason in payload.get("files_refused") or []]
    if early:
        mail.refused = [*early, *mail.refused][:MAX_REFUSED_NAMED]
    return mail


def _parse(payload: dict[str, Any]) -> InboundEmail:
    kind = payload.get("format")
    if kind == "postmark":
        return _postmark(payload.get("json"))
    if payload.get("mime") or (kind == "mime" and "fields" not in payload):  # raw MIME, kept as bytes
        return from_mime(_b64(payload.get("mime", ""), "the MIME message"))
    fields: dict[str, str] = payload.get("fields") or {}
    files: list[dict[str, str]] = payload.get("files") or []
    if kind == "sendgrid":
        if fields.get("email"):  # "POST the raw, full MIME message" is on
            return from_mime(fields["email"].encode())
        return _sendgrid(fields, files)
    if kind == "mailgun":
        if fields.get("body-mime"):
            return from_mime(fields["body-mime"].encode())
        return _mailgun(fields, files)
    if kind == "mime" and fields.get("email"):
        return from_mime(fields["email"].encode())
    raise MalformedEmail(f"Unknown email post format {kind!r}.")


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEmail(f"{what} is not valid base64.") from None


def _ids(value: str) -> list[str]:
    """Message-IDs in a header, as PostgreSQL can store and compare them (a NUL or a stray byte replaced)."""
    return [clean_text(found) for found in MESSAGE_ID.findall(value or "")]


def _sender(value: str) -> tuple[str, str]:
    try:
        name, address = parseaddr(value or "")
    except Exception:
        name, address = "", ""
    if "@" not in address:
        raise MalformedEmail(f"The sender {value!r} is not an email address.")
    return address, name


def _recipients(*values: str) -> list[str]:
    try:
        pairs = getaddresses([v for v in values if v])
    except Exception:  # a header the parser cannot read names nobody we need
        return []
    return [address.lower() for _name, address in pairs if "@" in address]


def _header(message: EmailMessage, raw: dict[str, str], name: str) -> str:
    """A header decoded, or its raw value when it cannot be parsed (`To: <`): read as a mail client would."""
    try:
        return str(message.get(name, ""))
    except Exception:  # the email package raises many kinds on malformed headers
        return raw.get(name.lower(), "")


def _part_text(part: Any) -> str:
    """A text part's content; an unknown or wrong charset label falls back to a lenient UTF-8 decode."""
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError, AssertionError, ValueError):
        data = part.get_payload(decode=True) or b""
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


SIGNATURE_TYPES = {
    "application/pgp-signature": "PGP",
    "application/pkcs7-signature": "S/MIME",
    "application/x-pkcs7-signature": "S/MIME",
}
FORWARDED_MAX = 5  # attached emails read into the thread per message
FORWARDED_TEXT_MAX = 20_000
# A header line (name, colon) or a folded continuation; anything else in the head is a broken line.
_HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+:|[ \t])")
# Obsolete syntax (RFC 5322 section 4.5.2): white space between a field name and its colon.
_OBS_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:")
# An unquoted boundary holding "=" (Outlook Express: boundary=----=_NextPart_...), which RFC 2045 tokenizing cuts at
# the "=", losing every part. Only header lines (Content-Type or a folded continuation) are touched.
_UNQUOTED_BOUNDARY = re.compile(rb'(?im)^((?:content-type:|[ \t]).*?\bboundary=)([^"\s;]+)')


def _unreadable(message: EmailMessage) -> str:
    """Why the default parse lost something a mail client would show, or ""."""
    if not message.get("From"):
        return "a header line that is not a header"
    for part in message.walk():
        if any(isinstance(d, errors.StartBoundaryNotFoundDefect) for d in part.defects):
            return "an unquoted multipart boundary"
    return ""


def _mended(data: bytes) -> bytes:
    """The message as a lenient mail client reads it: in the head, broken lines dropped and obsolete
    `Name :` fields joined; unquoted boundaries quoted. The body is otherwise untouched."""
    head, sep, body = _split_head(data)
    lines: list[bytes] = []
    for line in head.splitlines(keepends=True):
        line = _OBS_HEADER_NAME.sub(rb"\1:", line)
        if _HEADER_LINE.match(line) or (not lines and line.startswith(b"From ")):
            lines.append(line)
    return _UNQUOTED_BOUNDARY.sub(rb'\1"\2"', b"".join(lines) + sep + body)


def _split_head(data: bytes) -> tuple[bytes, bytes, bytes]:
    found = re.search(rb"\r?\n\r?\n", data)
    if found is None:
        return data, b"", b""
    return data[: found.start()], found.group(0), data[found.end() :]


def _read(data: bytes) -> tuple[EmailMessage, str]:
    """The message parsed with the default policy, or leniently when that loses the sender or the parts."""
    message = message_from_bytes(data, policy=policy.default)
    problem = _unreadable(message) if isinstance(message, EmailMessage) else ""
    if problem:
        second = message_from_bytes(_mended(data), policy=policy.default)
        if isinstance(second, EmailMessage) and not _unreadable(second):
            return second, problem
    return message, ""  # type: ignore[return-value]


def _blank_is_empty(text: str) -> str:
    return text if text.strip() else ""


def _forwarded_email(inner: Any) -> dict[str, str]:
    """An attached email (message/rfc822) as the thread shows it: who, when, what about, what it said."""
    if not isinstance(inner, EmailMessage):
        return {}
    raw = {key.lower(): str(value) for key, value in reversed(list(inner.raw_items()))}
    text = _blank_is_empty(_part_text(inner.get_body(preferencelist=("plain",))))
    if not text:
        text = html_text(_part_text(inner.get_body(preferencelist=("html",))))
    return {
        name: clean_text(value)
        for name, value in (
            ("from", _header(inner, raw, "From")[:300]),
            ("to", _header(inner, raw, "To")[:300]),
            ("date", _header(inner, raw, "Date")[:100]),
            ("subject", _header(inner, raw, "Subject")[:300]),
            ("text", text.strip()[:FORWARDED_TEXT_MAX]),
        )
    }


def _files_and_forwards(message: EmailMessage, mail: InboundEmail, depth: int = 0) -> list[Any]:
    """The parts to keep as files: attached emails are read into `mail.forwarded` (their own files kept),
    signature parts noted in `mail.signed`."""
    parts: list[Any] = []
    for part in message.iter_attachments():
        content_type = part.get_content_type()
        if content_type in SIGNATURE_TYPES:
            mail.signed = SIGNATURE_TYPES[content_type]
            continue
        if content_type == "message/rfc822" and depth < 3:
            try:
                inner = part.get_content()
            except Exception:  # an attached email the package cannot read stays a file
                inner = None
            if isinstance(inner, EmailMessage):
                if len(mail.forwarded) < FORWARDED_MAX:
                    mail.forwarded.append(_forwarded_email(inner))
                parts.extend(_files_and_forwards(inner, mail, depth + 1))
                continue
        parts.append(part)
    return parts


def from_mime(data: bytes) -> InboundEmail:
    message, repaired = _read(data)
    raw = {key.lower(): str(value) for key, value in reversed(list(message.raw_items()))}
    if not isinstance(message, EmailMessage) or not raw.get("from"):
        raise MalformedEmail("The MIME message has no From header.")
    sender, name = _sender(_header(message, raw, "From"))
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    mail = InboundEmail(
        message_id=(_ids(raw.get("message-id", "")) or [""])[0],
        sender=sender,
        sender_name=name,
        recipients=_recipients(_header(message, raw, "To"), _header(message, raw, "Cc")),
        subject=_header(message, raw, "Subject"),
        # A whitespace-only text part beside the real HTML one (some mailers send both): the HTML is the email.
        text=_blank_is_empty(_part_text(text_part)),
        html=_part_text(html_part),
        in_reply_to=(_ids(raw.get("in-reply-to", "")) or [""])[0],
        references=_ids(raw.get("references", "")),
        headers=raw,
        repaired=repaired,
    )
    if text_part is None and html_part is None:  # no part a body search picks (a report with its parts in an odd
        # order): the inline text parts, as a mail client lists them
        mail.text = "\n\n".join(
            text
            for part in message.walk()
            if part.get_content_type() == "text/plain" and part.get_content_disposition() != "attachment"
            if (text := _blank_is_empty(_part_text(part)))
        )
    mail.attachments, mail.refused = _capped(
        (part.get_filename() or "attachment", part.get_content_type(), partial(part.get_payload, decode=True))
        for part in _files_and_forwards(message, mail)
    )
    return mail


def _header_lines(raw: str) -> dict[str, str]:
    """A raw header block (SendGrid's `headers` field, the head of a MIME post) as raw values by lower-case name,
    the first of each: nothing is parsed or decoded, so a malformed header cannot fail the read."""
    parsed = message_from_bytes((raw or "").encode("utf-8", "surrogateescape") + b"\n\n", policy=policy.compat32)
    headers: dict[str, str] = {}
    for key, value in parsed.raw_items():
        headers.setdefault(key.lower(), value if isinstance(value, str) else str(value))
    return headers


def _capped(
    parts: Iterable[tuple[str, str, Callable[[], Any]]],
) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """The files to keep from one message: at most ATTACHMENTS_PER_MESSAGE, each within ATTACHMENT_MAX_BYTES.
    A file past the count is named without being decoded; the others not kept are named with the reason."""
    kept: list[tuple[str, str, bytes]] = []
    refused: list[str] = []
    count, limit = settings.ATTACHMENTS_PER_MESSAGE, settings.ATTACHMENT_MAX_BYTES
    skipped = 0
    for name, content_type, load in parts:
        if len(kept) >= count:
            skipped += 1
            if len(refused) < MAX_REFUSED_NAMED:
                refused.append(f"{name}: more than {count} files in one message; not kept.")
            continue
        data = load()
        if not isinstance(data, bytes):
            continue
        if len(data) > limit:
            refused.append(f"{name}: larger than {filesizeformat(limit)}; not kept.")
            continue
        kept.append((name, content_type, data))
    if skipped and len(refused) >= MAX_REFUSED_NAMED:
        refused.append(f"... {skipped} files past the first {count} were not kept in all.")
    return kept, refused


def _files(files: list[dict[str, str]], prefix: str) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    return _capped(
        (
            f.get("name") or "attachment",
            f.get("content_type", ""),
            partial(_b64, f.get("data", ""), "an attachment"),
        )
        for f in files
        if f.get("field", "").startswith(prefix)
    )


def _sendgrid(fields: dict[str, str], files: list[dict[str, str]]) -> InboundEmail:
    headers = _header_lines(fields.get("headers", ""))
    attachments, refused = _files(files, "attachment")
    sender, name = _sender(fields.get("from", ""))
    return InboundEmail(
        message_id=(_ids(headers.get("message-id", "")) or [""])[0],
        sender=sender,
        sender_name=name,
        recipients=_recipients(fields.get("to", ""), fields.get("cc", "")),
        subject=fields.get("subject", ""),
        text=fields.get("text", ""),
        html=fields.get("html", ""),
        in_reply_to=(_ids(headers.get("in-reply-to", "")) or [""])[0],
        references=_ids(headers.get("references", "")),
        attachments=attachments,
        refused=refused,
        headers=headers,
    )


def _mailgun(fields: dict[str, str], files: list[dict[str, str]]) -> InboundEmail:
    try:
        headers = {str(k).lower(): str(v) for k, v in json.loads(fields.get("message-headers") or "[]")}
    except (ValueError, TypeError):
        raise MalformedEmail("message-headers is not a JSON list of [name, value] pairs.") from None
    sender, name = _sender(fields.get("from") or fields.get("sender", ""))
    attachments, refused = _files(files, "attachment")
    return InboundEmail(
        message_id=(_ids(fields.get("Message-Id") or headers.get("message-id", "")) or [""])[0],
        sender=sender,
        sender_name=name,
        recipients=_recipients(fields.get("To") or fields.get("recipient", ""), fields.get("Cc", "")),
        subject=fields.get("subject", ""),
        text=fields.get("body-plain", ""),
        html=fields.get("body-html", ""),
        in_reply_to=(_ids(fields.get("In-Reply-To") or headers.get("in-reply-to", "")) or [""])[0],
        references=_ids(fields.get("References") or headers.get("references", "")),
        attachments=attachments,
        refused=refused,
        headers=headers,
    )


def _postmark(data: Any) -> InboundEmail:
    if not isinstance(data, dict):
        raise MalformedEmail("A Postmark inbound post is a JSON object.")
    headers = {str(h.get("Name", "")).lower(): str(h.get("Value", "")) for h in data.get("Headers") or []}
    full = data.get("FromFull") or {}
    sender, name = _sender(full.get("Email") or data.get("From", ""))
    attachments, refused = _capped(
        (
            a.get("Name") or "attachment",
            a.get("ContentType", ""),
            partial(_b64, a.get("Content", ""), "an attachment"),
        )
        for a in data.get("Attachments") or []
        if isinstance(a, dict)
    )
    message_id = (_ids(headers.get("message-id", "")) or [""])[0]
    if not message_id and data.get("MessageID"):
        message_id = f"<{data['MessageID']}@inbound.postmarkapp.com>"
    return InboundEmail(
        message_id=message_id,
        sender=sender,
        sender_name=full.get("Name") or name,
        recipients=_recipients(data.get("To", ""), data.get("Cc", "")),
        subject=data.get("Subject", ""),
        text=data.get("TextBody", ""),
        html=data.get("HtmlBody", ""),
        in_reply_to=(_ids(headers.get("in-reply-to", "")) or [""])[0],
        references=_ids(headers.get("references", "")),
        attachments=attachments,
        refused=refused,
        headers=headers,
    )


_LIST_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_DAEMON_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress")


def automated_reason(mail: InboundEmail) -> str:
    """Why this email was sent by a machine rather than a person (a bounce, an auto-reply, list mail), or "".
    Such mail is kept in the thread but never answered by the AI nor learned from: two autoresponders that
    answer each other loop forever (RFC 3834)."""
    headers = mail.headers
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:40]}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in _LIST_PRECEDENCE:
        return f"Precedence: {precedence}"
    if "return-path" in headers and headers["return-path"].strip() in ("<>", ""):
        return "a null Return-Path (a delivery report)"
    if mail.sender.split("@", 1)[0].lower() in _DAEMON_SENDERS:
        return f"sent by {mail.sender.split('@', 1)[0]}"
    content_type = headers.get("content-type", "").lower()
    if "multipart/report" in content_type or "delivery-status" in content_type:
        return "a delivery-status report"
    for name in _AUTO_HEADERS:
        if name in headers:
            return f"{name.title()} header"
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "mailing-list mail"
    return ""


# Where a forwarded email starts in a forwarding client's text (Gmail, Apple Mail, Outlook, Thunderbird; English,
# German, French, Spanish, Dutch). Outlook writes "Original Message" for replies and forwards alike.
_FORWARD_MARKER = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?P<forward>Forwarded message|Weitergeleitete Nachricht|Message transf[ée]r[ée]|"
    r"Mensaje reenviado|Doorgestuurd bericht)|(?P<forward2>Begin forwarded message:|Anfang der weitergeleiteten "
    r"Nachricht:|D[ée]but du message r[ée]exp[ée]di[ée]\s*:)|-{2,}[ \t]*(?:Original Message|Originalnachricht|"
    r"Message d'origine|Mensaje original)[ \t]*-*[ \t]*$)",
    re.IGNORECASE | re.MULTILINE,
)


def html_text(html: str) -> str:
    """An HTML body's words, as the text a mail client shows without formatting."""
    return nh3.clean(html[:MAX_HTML], tags=set()).replace("&nbsp;", " ") if html else ""


@dataclass(frozen=True)
class Reading:
    """An email's text as the thread shows it: what the customer wrote this time, and the rest (quoted history,
    signature, or a forwarded email) kept to show collapsed."""

    own: str
    rest: str
    forwarded: bool


def reading(email: InboundEmail) -> Reading:
    text = (email.text or html_text(email.html)).replace("\r\n", "\n")
    parsed = EmailReplyParser.read(text)
    own = "\n".join(f.content for f in parsed.fragments if not f.hidden).strip()
    rest = "\n".join(f.content for f in parsed.fragments if f.hidden).strip()
    forwarded = False
    marker = _FORWARD_MARKER.search(text)
    if marker is not None:
        before = text[: marker.start()].strip()
        if own.startswith(before):  # the marker is where the sender's own words end (or before the parser's cut)
            own, rest = before, text[marker.start() :].strip()
            forwarded = bool(marker.group("forward") or marker.group("forward2"))
    if not own and not forwarded:  # nothing but quoting (or a parser miss): the whole text is the message
        own, rest = text.strip(), ""
    return Reading(own=own, rest=rest, forwarded=forwarded)


QUOTED_MAX = 50_000
SHOWN_HEADERS = ("from", "to", "cc", "reply-to", "date", "subject", "message-id")


def shown_headers(email: InboundEmail) -> dict[str, str]:
    """The headers an agent reads on the original (who, to whom, when, about what), decoded, each capped."""
    shown: dict[str, str] = {}
    for name in SHOWN_HEADERS:
        value = email.headers.get(name, "")
        if value:
            with contextlib.suppress(LookupError, UnicodeError, ValueError, errors.HeaderParseError):
                value = str(make_header(decode_header(value)))  # encoded words; a broken one stays as written
            shown[name] = clean_text(" ".join(value.split()))[:500]
    return shown


def visible_text(email: InboundEmail) -> str:
    """What the customer wrote this time: the quoted history and signature stripped (a forward with no note of
    its own is the forwarded text)."""
    read = reading(email)
    return read.own or read.rest


def safe_html(html: str) -> str:
    """The HTML body with scripts, styles, event handlers and remote-loading tricks removed."""
    return nh3.clean(html[:MAX_HTML], url_schemes={"http", "https", "mailto"}) if html else ""


# --- Threading -----------------------------------------------------------------------------------------------


def reply_token(account_id: int, conversation_id: int) -> str:
    signature = salted_hmac("continuum.email.reply", f"{account_id}:{conversation_id}").hexdigest()[:16]
    return f"{conversation_id}.{signature}"


def reply_address(endpoint: ChannelEndpoint, conversation_id: int) -> str:
    """reply+<token>@ the endpoint's domain: route the whole domain to the inbound webhook and a reply finds its
    conversation even when the mail client dropped In-Reply-To."""
    return f"reply+{reply_token(endpoint.account_id, conversation_id)}@{endpoint.address.partition('@')[2]}"


def conversation_from_token(account_id: int, recipients: list[str]) -> int | None:
    for address in recipients:
        match = REPLY_TOKEN.search(address)
        if match and hmac.compare_digest(reply_token(account_id, int(match.group(1))), f"{match[1]}.{match[2]}"):
            return int(match.group(1))
    return None


# --- Sending -------------------------------------------------------------------------------------------------


def new_message_id(endpoint: ChannelEndpoint) -> str:
    return make_msgid(idstring="continuum", domain=endpoint.address.partition("@")[2] or None)


def _connection(endpoint: ChannelEndpoint) -> Any:
    if sandbox.is_sandbox(endpoint):  # the sandbox's mail server keeps it for the simulator page
        return sandbox.SandboxEmailBackend(endpoint=endpoint)
    credentials = credentials_get(endpoint)
    if not credentials.get("smtp_host"):
        return get_connection()
    return get_connection(
        "accounts.outbound.GuardedSMTPBackend",
        host=credentials["smtp_host"],
        port=int(credentials.get("smtp_port") or 587),
        username=credentials.get("smtp_username") or None,
        password=credentials.get("smtp_password") or None,
        use_tls=str(credentials.get("smtp_tls", "true")).lower() != "false",
        timeout=30,
    )


def check(endpoint: ChannelEndpoint) -> str:
    """What an admin should know about the endpoint; logs in to its SMTP server when it has one."""
    inbound = f"Send an email to {endpoint.address} to check the inbound route."
    if endpoint.provider == "imap":
        try:
            inbound = imap.check(endpoint)
        except imap.MailboxError as exc:
            raise ServiceError(str(exc), field="credentials") from None
    if sandbox.is_sandbox(endpoint):
        return "A sandbox mailbox: play the customer on the Sandbox page; nothing is sent to the internet."
    if not credentials_get(endpoint).get("smtp_host"):
        return f"Replies go out through the server's email settings. {inbound}"
    connection = _connection(endpoint)
    try:
        connection.open()
    except outbound.OutboundRefused as exc:
        raise ServiceError(f"This SMTP server is not allowed: {exc.reason}", field="credentials") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ServiceError(f"The SMTP server refused or could not be reached: {exc}", field="credentials") from None
    finally:
        connection.close()
    return f"The SMTP server accepted the login; replies will go out through it. {inbound}"


def send(
    endpoint: ChannelEndpoint,
    *,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str,
    references: list[str],
    reply_to: str,
    from_name: str,
    attachments: list[tuple[str, bytes, str]],
    automatic: bool = False,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
) -> bytes:
    """Send one email through the endpoint's SMTP server (its credentials) or the global email backend.
    `automatic` (the AI's replies, system mail) marks it `Auto-Submitted: auto-replied` (RFC 3834), so other
    autoresponders do not answer it. Returns the email as sent (bytes), for a mailbox's Sent folder."""
    connection = _connection(endpoint)
    headers = {"Message-ID": message_id}
    if automatic:
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        headers["References"] = " ".join([*references, in_reply_to][-20:])
    email = EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=f"{from_name} <{endpoint.address}>" if from_name else endpoint.address,
        to=[to],
        cc=cc or None,
        bcc=bcc or None,
        reply_to=[reply_to],
        headers=headers,
        connection=connection,
    )
    # An HTML part beside the text: mail clients show it with the paragraphs and links as written.
    email.attach_alternative(f"<div>{linebreaks(urlize(escape(body)))}</div>", "text/html")
    for filename, data, content_type in attachments:
        email.attach(filename, data, content_type or None)
    email.send(fail_silently=False)
    return email.message().as_bytes()  # Bcc is not a header of the message: it stays out of the Sent copy too

"""Files and transcripts in the webchat widget.

A visitor attaches an image or a document: the type, size and rate are checked like every attachment (its name
types an `application/octet-stream` file), it is stored on their message, and it is served back only to that
visitor's session and the team, always as a download with `nosniff` and a sandboxing CSP, so a file never runs
in a browser. A visitor may ask for the chat by email once the address is proven theirs: the host site vouched for
the visitor (`identifier_hash`) and the contact has that email, or a six-digit code sent to the address was typed
back (15 minutes, five tries; three codes an hour per visitor and per address)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.errors import ServiceError
from contacts.addresses import normalize_email
from contacts.models import ContactIdentity
from inbox.attachments import IncomingFile, attachment_check
from inbox.models import Attachment

from .models import ChannelEndpoint
from .webchat import (
    Visitor,
    WebchatError,
    authenticated,
    message_json,
    rate_limited,
    receive,
    visible_messages,
    visitor_contact,
    widget_view,
)

logger = logging.getLogger(__name__)
FILES_PER_MINUTE = 6
CODES_PER_HOUR = 3  # per visitor, and per address
CODE_TRIES = 5
CODE_SECONDS = 15 * 60
VERIFIED_SECONDS = 24 * 3600
TRANSCRIPT_MESSAGES = 500


# --- Files ---------------------------------------------------------------------------------------------------


@widget_view
def upload_view(request: HttpRequest, endpoint: ChannelEndpoint, data: dict[str, Any]) -> dict[str, Any]:
    """POST multipart {file, body?, client_id?}: a file from the visitor, on a message of its own."""
    if request.method != "POST":
        raise WebchatError(405, "method_not_allowed", "POST a file as multipart form data.")
    visitor = authenticated(request, endpoint)
    upload = request.FILES.get("file")
    if upload is None:
        raise WebchatError(400, "invalid", "Choose a file to send.", field="file")
    limit = settings.WEBCHAT_FILE_MAX_BYTES
    if (upload.size or 0) > limit:
        raise WebchatError(413, "too_large", f"Files are at most {filesizeformat(limit)}.", field="file")
    if rate_limited(f"file:{endpoint.pk}:{visitor.visitor_id}", FILES_PER_MINUTE):
        raise WebchatError(429, "rate_limited", "Too many files; wait a minute and try again.")
    incoming = IncomingFile((upload.name or "file")[:200], upload.content_type or "", upload, upload.size or 0)
    try:
        attachment_check(incoming)
    except ServiceError as exc:
        raise WebchatError(400, "invalid", exc.message, field="file") from None
    message = receive(
        visitor,
        str(request.POST.get("body") or ""),
        client_id=str(request.POST.get("client_id") or ""),
        attachments=[incoming],
    )
    return {"message": message_json(message)}


@widget_view
def file_view(
    request: HttpRequest, endpoint: ChannelEndpoint, data: dict[str, Any], attachment_id: int
) -> HttpResponseBase:
    """GET: a file of this visitor's chat (theirs or the team's), as a download."""
    visitor = authenticated(request, endpoint)
    messages = visible_messages(visitor)
    attachment = (
        Attachment.objects.filter(account_id=endpoint.account_id, pk=attachment_id, message__in=messages).first()
        if messages is not None
        else None
    )
    if attachment is None:
        raise WebchatError(404, "not_found", "No such file in this chat.")
    response = FileResponse(
        attachment.file.open("rb"), content_type=attachment.content_type, as_attachment=True,
        filename=attachment.filename,
    )  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=300"
    return response


# --- Transcripts ---------------------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _verified_key(visitor: Visitor, email: str) -> str:
    return f"webchat:verified:{visitor.endpoint.pk}:{visitor.visitor_id}:{_digest(email)}"


def _code_key(visitor: Visitor, email: str) -> str:
    return f"webchat:code:{visitor.endpoint.pk}:{visitor.visitor_id}:{_digest(email)}"


def vouched_email(visitor: Visitor) -> str:
    """The email the host site vouched for: a verified visitor's contact's address ("" otherwise)."""
    if not visitor.identifier:
        return ""
    contact = visitor_contact(visitor)
    if contact is None:
        return ""
    identity = ContactIdentity.objects.filter(
        account_id=visitor.endpoint.account_id, contact=contact, kind="email", opted_out_at__isnull=True
    ).first()
    return identity.value if identity is not None else ""


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"


def _send_later(to: str, subject: str, body: str, reply_to: str) -> None:
    from .tasks import send_webchat_email

    transaction.on_commit(lambda: send_webchat_email.delay(to, subject, body, reply_to))


def _reply_to(endpoint: ChannelEndpoint) -> str:
    mailbox = ChannelEndpoint.objects.filter(
        account_id=endpoint.account_id, inbox_id=endpoint.inbox_id, kind="email", enabled=True
    ).first()
    return mailbox.address if mailbox is not None else ""


def transcript_text(visitor: Visitor) -> str:
    """The chat as the visitor saw it, oldest first, in plain text."""
    messages = visible_messages(visitor)
    title = visitor.endpoint.options.get("title") or visitor.endpoint.inbox.name
    lines = [f"Your chat with {title}", ""]
    rows = list(messages.order_by("-created_at", "-id")[:TRANSCRIPT_MESSAGES]) if messages is not None else []
    for message in reversed(rows):
        when = timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M")
        who = "You" if message.direction == "in" else (message_json(message)["sender_name"] or title)
        lines.append(f"[{when}] {who}: {message.body}".rstrip())
        lines.extend(f"    (file: {a.filename})" for a in message.attachments.all())
    return "\n".join(lines) + "\n"


@widget_view
def transcript_view(request: HttpRequest, endpoint: ChannelEndpoint, data: dict[str, Any]) -> dict[str, Any]:
    """POST {email?, code?}: email the chat to the visitor. With no proven address: {email} sends a code to it
    ({"code_sent": true}); {email, code} checks it and sends the transcript ({"sent_to": "j***@example.com"})."""
    if request.method != "POST":
        raise WebchatError(405, "method_not_allowed", "POST to ask for the transcript.")
    visitor = authenticated(request, endpoint)
    if visible_messages(visitor) is None:
        raise WebchatError(400, "invalid", "There is nothing in this chat yet.")
    given = str(data.get("email") or "").strip()
    vouched = vouched_email(visitor)
    if not given and not vouched:
        raise WebchatError(400, "invalid", "Give the email address to send the chat to.", field="email")
    try:
        email = normalize_email(given) if given else vouched
    except ServiceError as exc:
        raise WebchatError(400, "invalid", exc.message, field="email") from None
    title = endpoint.options.get("title") or endpoint.inbox.name
    if email == vouched or cache.get(_verified_key(visitor, email)):
        if rate_limited(f"transcript:{endpoint.pk}:{visitor.visitor_id}", 3):
            raise WebchatError(429, "rate_limited", "The transcript was just sent; wait a minute.")
        _send_later(email, f"Your chat with {title}", transcript_text(visitor), _reply_to(endpoint))
        return {"sent_to": _mask(email)}
    code = str(data.get("code") or "").strip()
    key = _code_key(visitor, email)
    if not code:
        over_visitor = rate_limited(f"codes:{endpoint.pk}:{visitor.visitor_id}", CODES_PER_HOUR, seconds=3600)
        over_address = rate_limited(f"codes:{endpoint.pk}:{_digest(email)}", CODES_PER_HOUR, seconds=3600)
        if over_visitor or over_address:
            raise WebchatError(429, "rate_limited", "Too many codes asked for; try again in an hour.", field="email")
        fresh = f"{secrets.randbelow(1_000_000):06d}"
        cache.set(key, {"code": fresh, "tries": 0}, CODE_SECONDS)
        _send_later(
            email,
            f"Your code for the chat with {title}",
            f"Your code is {fresh}. Type it in the chat to receive the transcript by email.\n\n"
            "It works for 15 minutes. If you did not ask for it, ignore this email.\n",
            "",
        )
        return {"code_sent": True}
    pending = cache.get(key)
    if not pending or pending["tries"] >= CODE_TRIES:
        cache.delete(key)
        raise WebchatError(400, "invalid", "That code expired; ask for a new one.", field="code")
    if not hmac.compare_digest(str(pending["code"]), code):
        cache.set(key, {**pending, "tries": pending["tries"] + 1}, CODE_SECONDS)
        raise WebchatError(400, "invalid", "That code is not right; check the email and try again.", field="code")
    cache.delete(key)
    cache.set(_verified_key(visitor, email), True, VERIFIED_SECONDS)
    _send_later(email, f"Your chat with {title}", transcript_text(visitor), _reply_to(endpoint))
    return {"sent_to": _mask(email)}

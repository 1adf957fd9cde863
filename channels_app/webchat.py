"""The webchat widget's side of the server: visitor sessions (signed tokens kept in the visitor's localStorage),
identity verification, allowed origins, rate limits, and the REST endpoints the widget falls back to when a
websocket cannot be opened. The websocket itself is channels_app.consumers.WebchatConsumer.

A visitor is a webchat identity (a random visitor id) of a contact. When the host site vouches for who the
visitor is (`identifier` with `identifier_hash = HMAC-SHA256(widget secret, identifier)`), the visitor joins
the known contact with that identifier; an unverified visitor never joins anyone (an email typed into the
pre-chat form is only added as an address nobody else has).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from accounts.clients import client_address
from accounts.errors import ServiceError
from accounts.tenant_db import tenant_enter
from contacts.addresses import normalize_address
from contacts.models import Contact, ContactIdentity
from contacts.services import contact_merge, contact_resolve, identity_add
from inbox.attachments import IncomingFile
from inbox.models import Channel, Conversation, DeliveryStatus, Message
from inbox.services import BODY_LIMITS, message_set_delivery, receive_message
from memory.services import PRE_CHAT, fact_record_ai

from .credentials import credentials_get
from .models import ChannelEndpoint, EndpointKind

SESSION_SALT = "continuum.webchat.session"
SESSION_MAX_AGE = 90 * 24 * 3600
MAX_BODY = BODY_LIMITS[Channel.WEBCHAT]  # a visitor's message and an agent's reply alike
HISTORY = 50
# Per visitor: messages per minute; per client address: new sessions per minute.
MESSAGES_PER_MINUTE = 20
SESSIONS_PER_MINUTE = 30


class WebchatError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self, origin: str = "") -> HttpResponseBase:
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.field:
            error["fields"] = {self.field: [self.message]}
        return _cors(JsonResponse({"error": error}, status=self.status), origin)


@dataclass(frozen=True)
class Visitor:
    endpoint: ChannelEndpoint
    visitor_id: str
    identifier: str  # verified by the host site, or ""


def new_widget_token() -> str:
    return "wgt_" + secrets.token_urlsafe(18)


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def endpoint_for(widget_token: str) -> ChannelEndpoint | None:
    return (
        ChannelEndpoint.objects.select_related("inbox", "account")
        .filter(kind=EndpointKind.WEBCHAT, address=widget_token, enabled=True)
        .first()
    )


def origin_allowed(endpoint: ChannelEndpoint, origin: str) -> bool:
    """Allowed origins are exact (scheme://host[:port]); an endpoint with none listed accepts any site."""
    allowed = [o.rstrip("/").lower() for o in endpoint.options.get("allowed_origins", []) if o]
    if not allowed:
        return True
    return origin.rstrip("/").lower() in allowed


def identifier_hash(secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def session_token(visitor: Visitor) -> str:
    return signing.dumps(
        {"e": visitor.endpoint.pk, "v": visitor.visitor_id, "u": visitor.identifier}, salt=SESSION_SALT, compress=True
    )


def visitor_from_token(endpoint: ChannelEndpoint, token: str) -> Visitor | None:
    try:
        data = signing.loads(token, salt=SESSION_SALT, max_age=SESSION_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") != endpoint.pk or not data.get("v"):
        return None
    return Visitor(endpoint, str(data["v"]), str(data.get("u") or ""))


def rate_limited(key: str, limit: int, *, seconds: int = 60) -> bool:
    """True when `key` went over `limit` hits in the current window (a Redis counter that expires)."""
    name = f"webchat-rate:{key}"
    cache.add(name, 0, timeout=seconds)
    try:
        return int(cache.incr(name)) > limit
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=seconds)
        return False


def visitor_group(account_id: int, contact_id: int) -> str:
    return f"webchat.{account_id}.{contact_id}"


# --- Contacts ------------------------------------------------------------------------------------------------


def visitor_contact(visitor: Visitor) -> Contact | None:
    identity = (
        ContactIdentity.objects.select_related("contact")
        .filter(account_id=visitor.endpoint.account_id, kind="webchat", value=visitor.visitor_id)
        .first()
    )
    if identity is None:
        return None
    contact = identity.contact
    if contact.merged_into_id is not None:
        contact = Contact.objects.get(pk=contact.merged_into_id)
    return contact


@transaction.atomic
def contact_for(visitor: Visitor, *, name: str = "", email: str = "", phone: str = "") -> Contact:
    """The visitor's contact, created on first use. A verified identifier resolves the known contact (an email
    as an email address, anything else as the host site's user id) and an earlier anonymous contact of this
    browser is merged into it. Unverified details only become addresses nobody else has."""
    account = visitor.endpoint.account
    if visitor.identifier:
        kind = "email" if "@" in visitor.identifier else "webchat"
        raw = visitor.identifier if kind == "email" else f"user:{visitor.identifier}"
        contact = contact_resolve(account=account, kind=kind, raw_address=raw, name=name or None)
        anonymous = visitor_contact(visitor)
        if anonymous is None:
            identity_add(account=account, actor=None, contact=contact, kind="webchat", raw_value=visitor.visitor_id)
        elif anonymous.pk != contact.pk:
            contact = contact_merge(account=account, actor=None, keep=contact, drop=anonymous)
    else:
        contact = contact_resolve(account=account, kind="webchat", raw_address=visitor.visitor_id, name=name or None)
    # An email or phone typed into the pre-chat form is the visitor's claim, not an address: kept as an unconfirmed
    # fact (the team sees it, the AI does not ask again), never an identity, so it routes nothing to this chat
    # and joins it to nobody until the host site verifies the visitor or a person merges after the preview.
    for kind, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        try:
            normalize_address(kind, value, region=account.default_region)
        except ServiceError as exc:
            raise WebchatError(400, "invalid", exc.message, field=kind) from None
        fact_record_ai(
            account=account,
            contact=contact,
            inbox=visitor.endpoint.inbox,
            key=kind,
            value=value,
            confidence=0.5,
            engine=PRE_CHAT,
        )
    return contact


# --- What the widget shows -----------------------------------------------------------------------------------


def _sender_name(message: Message) -> str:
    """Who the visitor sees answering: the AI's persona, or a team member's first name."""
    if message.direction == "in":
        return ""
    if message.sender_type == "ai":
        return str(message.metadata.get("persona") or "")
    user = message.sender_user
    return (user.display_name.split(" ")[0] if user is not None else "") or ""


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "direction": message.direction,
        "sender_type": message.sender_type,
        "sender_name": _sender_name(message),
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "attachments": [
            {"id": a.pk, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments.all()
        ],
    }


def history(visitor: Visitor, *, after: int = 0) -> list[dict[str, Any]]:
    messages = visible_messages(visitor)
    if messages is None:
        return []
    latest = list(messages.filter(pk__gt=after).order_by("-created_at", "-id")[:HISTORY])
    return [message_json(m) for m in reversed(latest)]


def visible_messages(visitor: Visitor) -> QuerySet[Message] | None:
    """The chat messages this visitor may see (None: they have none)."""
    contact = visitor_contact(visitor)
    if contact is None:
        return None
    chat = Message.objects.filter(
        account_id=visitor.endpoint.account_id,
        contact=contact,
        inbox_id=visitor.endpoint.inbox_id,
        kind="message",
        channel="webchat",
    )
    messages = chat.select_related("sender_user").prefetch_related("attachments")
    if not visitor.identifier:
        # An unverified browser sees its own conversation only: after a person merged its contact with another
        # record, the other's earlier chats (another browser's words, and the answers to them) stay out of it.
        mine = Q(direction="in", metadata__visitor=visitor.visitor_id)
        first = chat.filter(mine).order_by("created_at", "id").values_list("created_at", flat=True).first()
        if first is None:
            return None
        messages = messages.filter(created_at__gte=first).filter(Q(direction="out") | mine)
    return messages


def widget_config(endpoint: ChannelEndpoint) -> dict[str, Any]:
    options = endpoint.options
    return {
        "title": options.get("title") or endpoint.inbox.name,
        "greeting": options.get("greeting") or "Hi! Ask us anything; we usually answer within minutes.",
        "prechat": list(options.get("prechat_fields", [])),
        "color": options.get("color") or "#2563eb",
    }


def receive(
    visitor: Visitor, body: str, *, client_id: str = "", attachments: list[IncomingFile] | None = None
) -> Message:
    """A visitor's message into the inbox (on their conversation there), with a file they attached (checked by
    the caller: webchat_files.upload_view)."""
    body = (body or "").strip()
    if not body and not attachments:
        raise WebchatError(400, "invalid", "Write a message first.", field="body")
    if len(body) > MAX_BODY:
        raise WebchatError(400, "invalid", f"Messages are at most {MAX_BODY} characters.", field="body")
    if not attachments and rate_limited(f"msg:{visitor.endpoint.pk}:{visitor.visitor_id}", MESSAGES_PER_MINUTE):
        raise WebchatError(429, "rate_limited", "Too many messages; wait a minute and try again.")
    contact = visitor_contact(visitor) or contact_for(visitor)
    return receive_message(
        account=visitor.endpoint.account,
        inbox=visitor.endpoint.inbox,
        contact=contact,
        channel="webchat",
        body=body,
        provider_endpoint=str(visitor.endpoint.public_id),
        # The widget's own id for the message: a resend after a dropped connection is stored once.
        provider_id=f"{visitor.visitor_id}:{client_id}"[:128] if client_id else "",
        attachments=attachments or [],
        metadata={"visitor": visitor.visitor_id},
    )


def mark_seen(visitor: Visitor, message_id: int) -> None:
    contact = visitor_contact(visitor)
    message = Message.objects.filter(
        account_id=visitor.endpoint.account_id, contact=contact, pk=message_id, direction="out", channel="webchat"
    ).first()
    if message is not None and message.delivery_status != DeliveryStatus.FAILED:
        message_set_delivery(account=visitor.endpoint.account, message=message, status=DeliveryStatus.READ)


def open_conversation(visitor: Visitor) -> Conversation | None:
    contact = visitor_contact(visitor)
    if contact is None:
        return None
    return (
        Conversation.objects.filter(account_id=visitor.endpoint.account_id, contact=contact)
        .filter(inbox_id=visitor.endpoint.inbox_id)
        .exclude(status="resolved")
        .order_by("-last_activity_at")
        .first()
    )


# --- REST (the fallback when a websocket cannot be opened) -----------------------------------------------------


def _cors(response: HttpResponseBase, origin: str) -> HttpResponseBase:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
        response["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Max-Age"] = "600"
    return response


def widget_view(view: Callable[..., dict[str, Any] | HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Endpoint lookup, origin check, CORS and errors for the widget's REST calls. A JSON body is read into
    `data` (a multipart post leaves it empty: the view reads request.FILES); a view may answer a response."""

    @csrf_exempt
    def wrapped(request: HttpRequest, widget_token: str, **kwargs: Any) -> HttpResponseBase:
        origin = request.headers.get("Origin", "")
        endpoint = endpoint_for(widget_token)
        if endpoint is None:
            return WebchatError(404, "not_found", "No webchat widget has this token.").response(origin)
        if origin and not origin_allowed(endpoint, origin):
            return WebchatError(403, "origin_not_allowed", f"{origin} may not embed this widget.").response()
        if request.method == "OPTIONS":
            return _cors(HttpResponse(status=204), origin)
        # The widget serves one account, known from its token: from here on PostgreSQL shows that account only.
        tenant_enter(endpoint.account_id)
        try:
            multipart = (request.content_type or "").startswith("multipart/")
            data = json.loads(request.body or b"{}") if request.method == "POST" and not multipart else {}
            if not isinstance(data, dict):
                raise WebchatError(400, "invalid", "Send a JSON object.")
            answer = view(request, endpoint, data, **kwargs)
            return _cors(answer if isinstance(answer, HttpResponseBase) else JsonResponse(answer), origin)
        except ValueError:
            return WebchatError(400, "invalid", "The body is not valid JSON.").response(origin)
        except WebchatError as exc:
            return exc.response(origin)

    return wrapped


def authenticated(request: HttpRequest, endpoint: ChannelEndpoint) -> Visitor:
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    visitor = visitor_from_token(endpoint, token) if token else None
    if visitor is None:
        raise WebchatError(401, "unauthenticated", "Start a session first (POST session); its token is missing or bad.")
    return visitor


@widget_view
def session_view(request: HttpRequest, endpoint: ChannelEndpoint, data: dict[str, Any]) -> dict[str, Any]:
    """POST {session?, identifier?, identifier_hash?, name?, email?, phone?}: the visitor's session (kept, or a
    new one), the widget's settings and the recent history."""
    if request.method != "POST":
        raise WebchatError(405, "method_not_allowed", "POST to start or resume a session.")
    visitor = visitor_from_token(endpoint, str(data.get("session") or ""))
    if visitor is None:
        if rate_limited(f"session:{endpoint.pk}:{client_address(request)}", SESSIONS_PER_MINUTE):
            raise WebchatError(429, "rate_limited", "Too many new chats from this address; wait a minute.")
        visitor = Visitor(endpoint, secrets.token_hex(16), "")
    identifier = str(data.get("identifier") or "").strip()
    if identifier:
        secret = str(credentials_get(endpoint).get("identity_secret", ""))
        given = str(data.get("identifier_hash") or "")
        if not secret or not hmac.compare_digest(identifier_hash(secret, identifier), given.lower()):
            raise WebchatError(
                403, "identity_not_verified", "identifier_hash is not the HMAC-SHA256 of identifier.", "identifier_hash"
            )
        visitor = Visitor(endpoint, visitor.visitor_id, identifier[:320])
    details = {key: str(data.get(key) or "").strip()[:320] for key in ("name", "email", "phone")}
    if identifier or any(details.values()):
        contact_for(visitor, **details)
    return {
        "session": session_token(visitor),
        "visitor_id": visitor.visitor_id,
        "verified": bool(visitor.identifier),
        "known": visitor_contact(visitor) is not None,
        "config": widget_config(endpoint),
        "messages": history(visitor),
    }


@widget_view
def messages_view(request: HttpRequest, endpoint: ChannelEndpoint, data: dict[str, Any]) -> dict[str, Any]:
    """GET ?after=<id>: messages since; POST {body, client_id}: send one."""
    visitor = authenticated(request, endpoint)
    if request.method == "POST":
        message = receive(visitor, str(data.get("body") or ""), client_id=str(data.get("client_id") or ""))
        return {"message": message_json(message)}
    try:
        after = int(request.GET.get("after") or 0)
    except ValueError:
        raise WebchatError(400, "invalid", "after is a message id (a number).", field="after") from None
    return {"messages": history(visitor, after=after)}

"""Facebook Messenger and Instagram through the Meta Graph API (Messenger Platform): the webhook's verify-token
handshake and `X-Hub-Signature-256` check, reading its messaging events, and sending replies with the right
messaging type (a response within 24 hours of the person's last message, the HUMAN_AGENT tag for a person's reply
within 7 days, nothing after). Calls go through the outbound guard (requests) to settings.META_GRAPH_BASE_URL.

Credentials: app_secret (signs the webhooks), page_access_token (sends), verify_token (the handshake). The
endpoint's address is the Facebook Page id (Messenger) or the Instagram account id."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.http import HttpRequest

from accounts import outbound

from ..credentials import credentials_get
from ..models import ChannelEndpoint

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
TIMEOUT = 15
ANSWER_MAX_BYTES = 1_048_576
# Graph API errors that will not succeed on retry, in words for the agent.
PERMANENT = {
    (10, 2018278): "Outside Meta's messaging window: the person has not written for more than 24 hours (7 days for "
    "a person's reply). Ask them to write again, or reach them on another channel.",
    (10, 2534022): "Outside Meta's messaging window; a person's reply within 7 days needs the Human Agent permission.",
    (551, 1545041): "This person is not available on Messenger right now (they blocked the page or left).",
    (100, 2018001): "No matching user: the person's Messenger or Instagram id is not valid for this page.",
    (190, None): "The page access token expired or was revoked: an admin connects the page again.",
    (200, None): "The page access token lacks the permission to send messages (pages_messaging / "
    "instagram_manage_messages).",
}
RETRYABLE_CODES = {1, 2, 4, 17, 32, 341, 613}  # temporary issues and rate limits


class MalformedEvent(Exception):
    """Signed by Meta but not a messaging event we can read: kept, marked failed, replayable."""


class GraphFailed(Exception):
    def __init__(self, retry: bool, code: str, reason: str) -> None:
        super().__init__(reason)
        self.retry, self.code, self.reason = retry, code, reason


def base_url() -> str:
    return settings.META_GRAPH_BASE_URL.rstrip("/")


def webhook_url(endpoint: ChannelEndpoint) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/meta/{endpoint.public_id}"


def handshake(request: HttpRequest, endpoint: ChannelEndpoint) -> str | None:
    """The challenge to echo when Meta subscribes the webhook with our verify token, else None."""
    params = request.GET
    expected = str(credentials_get(endpoint).get("verify_token", ""))
    given = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(given, expected):
        return None
    return params.get("hub.challenge", "")[:200]


def verify(request: HttpRequest, endpoint: ChannelEndpoint) -> bool:
    """X-Hub-Signature-256 is sha256=HMAC-SHA256(app secret, the raw body)."""
    secret = str(credentials_get(endpoint).get("app_secret", ""))
    given = request.headers.get("X-Hub-Signature-256", "")
    if not secret or not given.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given[7:].lower(), expected)


def split_events(payload: Any) -> list[tuple[str, dict[str, Any]]]:
    """Each messaging event of a post with its key (one post may batch several), for storing one by one. What is
    not a messaging event (a changes feed, an unknown object) comes back whole under a content key."""
    events: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(payload, dict) or payload.get("object") not in ("page", "instagram"):
        return [("unknown:" + hashlib.sha256(repr(payload).encode()).hexdigest()[:32], {"raw": payload})]
    for entry in payload.get("entry") or []:
        for event in (entry.get("messaging") or []) if isinstance(entry, dict) else []:
            if not isinstance(event, dict):
                continue
            message = event.get("message") or {}
            if isinstance(message, dict) and message.get("mid"):
                key = f"mid:{message['mid']}"
            elif isinstance(event.get("read"), dict) or isinstance(event.get("delivery"), dict):
                mark = event.get("read") or event.get("delivery") or {}
                kind = "read" if event.get("read") else "delivery"
                key = (
                    f"{kind}:{event.get('sender', {}).get('id', '')}:{mark.get('watermark', '')}:{mark.get('mid', '')}"
                )
            else:
                key = "event:" + hashlib.sha256(repr(sorted(event.items())).encode()).hexdigest()[:32]
            events.append((key[:200], {"object": payload["object"], "event": event}))
    return events


@dataclass
class Inbound:
    sender: str
    page: str
    mid: str
    text: str
    timestamp: int
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (url, type: image, video, audio, file)
    reply_to: str = ""  # the mid this message answers, when the person replied to one
    echo: bool = False  # our own message, echoed back: not a customer's words


def parse(payload: dict[str, Any]) -> Inbound | None:
    """A messaging event's customer message, or None for receipts and what is not a message."""
    event = payload.get("event")
    if not isinstance(event, dict):
        raise MalformedEvent("A Meta messaging event is an object with sender, recipient and message.")
    message = event.get("message")
    if not isinstance(message, dict):
        return None
    sender = str((event.get("sender") or {}).get("id", ""))
    page = str((event.get("recipient") or {}).get("id", ""))
    if not sender.isdigit() or not message.get("mid"):
        raise MalformedEvent("A Meta message needs sender.id and message.mid.")
    files = [
        (str((a.get("payload") or {}).get("url", "")), str(a.get("type", "file")))
        for a in message.get("attachments") or []
        if isinstance(a, dict) and (a.get("payload") or {}).get("url")
    ]
    return Inbound(
        sender=sender,
        page=page,
        mid=str(message["mid"]),
        text=str(message.get("text") or ""),
        timestamp=int(event.get("timestamp") or 0),
        attachments=files,
        reply_to=str((message.get("reply_to") or {}).get("mid", "")),
        echo=bool(message.get("is_echo")),
    )


def receipt(payload: dict[str, Any]) -> tuple[str, int, str] | None:
    """("read" | "delivery", watermark in ms, a mid or "") for a receipt event, else None."""
    event = payload.get("event") or {}
    for kind in ("read", "delivery"):
        mark = event.get(kind)
        if isinstance(mark, dict):
            mids = mark.get("mids") or []
            return kind, int(mark.get("watermark") or 0), str(mark.get("mid") or (mids[0] if mids else ""))
    return None


def messaging_type(last_inbound: datetime | None, now: datetime, *, by_person: bool) -> dict[str, str]:
    """What Meta needs to accept a reply now; raises GraphFailed outside the windows."""
    if last_inbound is not None and now - last_inbound <= STANDARD_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if by_person and last_inbound is not None and now - last_inbound <= HUMAN_AGENT_WINDOW:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    raise GraphFailed(False, "window", PERMANENT[(10, 2018278)])


def _failure(status: int, answer: dict[str, Any]) -> GraphFailed:
    error = answer.get("error") or {}
    if not isinstance(error, dict):
        error = {}
    code, sub = int(error.get("code") or 0), error.get("error_subcode")
    words = PERMANENT.get((code, sub)) or PERMANENT.get((code, None))
    if words:
        return GraphFailed(False, str(code), words)
    if code in RETRYABLE_CODES or status >= 500:
        return GraphFailed(True, str(code or status), f"Meta was busy or failing (error {code}).")
    message = str(error.get("message") or f"HTTP {status}")[:300]
    return GraphFailed(False, str(code or status), f"Meta refused the message: {message}")


def _graph(endpoint: ChannelEndpoint, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One Graph API call with the page token, through the outbound guard: the JSON answer, or GraphFailed. Graph
    answers are small: at most ANSWER_MAX_BYTES of one (decoded) is read, whatever the server sends."""
    token = str(credentials_get(endpoint).get("page_access_token", ""))
    params = {**kwargs.pop("params", {}), "access_token": token}
    content = bytearray()
    try:
        with outbound.session().request(
            method, f"{base_url()}/{path}", params=params, timeout=TIMEOUT, stream=True, **kwargs
        ) as response:
            for chunk in response.iter_content(65536):
                content.extend(chunk)
                if len(content) > ANSWER_MAX_BYTES:
                    raise GraphFailed(True, "bad_answer", f"Meta's answer was larger than {ANSWER_MAX_BYTES} bytes.")
            status = response.status_code
    except outbound.OutboundRefused as exc:
        raise GraphFailed(False, "not_allowed", f"The Graph API address is not allowed: {exc.reason}") from None
    except requests.RequestException as exc:
        raise GraphFailed(True, "unreachable", f"Could not reach Meta ({type(exc).__name__}).") from None
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    if status != 200:
        raise _failure(status, answer if isinstance(answer, dict) else {})
    if answer is None:
        raise GraphFailed(True, "bad_answer", "Meta's answer was not JSON.")
    return answer if isinstance(answer, dict) else {}


def send(endpoint: ChannelEndpoint, *, to: str, text: str, kind: dict[str, str]) -> str:
    """Send a text; returns Meta's message id. Raises GraphFailed (retry or not, with the reason in words)."""
    body: dict[str, Any] = {"recipient": {"id": to}, "message": {"text": text}, **kind}
    answer = _graph(endpoint, "POST", "me/messages", json=body)
    if not answer.get("message_id"):
        raise GraphFailed(True, "bad_answer", "Meta's answer had no message id.")
    return str(answer["message_id"])


def profile_name(endpoint: ChannelEndpoint, person: str) -> str:
    """The person's name as the page may see it ("" when Meta does not say)."""
    fields = "name" if endpoint.kind == "instagram" else "first_name,last_name"
    try:
        data = _graph(endpoint, "GET", person, params={"fields": fields})
    except GraphFailed:
        return ""
    name = data.get("name") or " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
    return str(name or "")[:200]


def check(endpoint: ChannelEndpoint) -> str:
    """Ask the Graph API who the page access token speaks for; raises GraphFailed in words."""
    data = _graph(endpoint, "GET", "me", params={"fields": "id,name"})
    if str(data.get("id")) != endpoint.address:
        return (
            f"Meta accepted the token, but it speaks for {data.get('name') or data.get('id')} ({data.get('id')}), "
            f"not {endpoint.address}."
        )
    return f"Meta accepted the token for {data.get('name') or endpoint.address}; replies will go out as it."

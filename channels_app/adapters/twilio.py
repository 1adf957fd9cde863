"""Twilio Messaging (SMS and WhatsApp) and Voice: signature checks, payload reading, TwiML answers, and sending
and calling through the official SDK."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from .. import sandbox
from ..credentials import credentials_get
from ..models import ChannelEndpoint

WHATSAPP = "whatsapp:"
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "YES", "UNSTOP"}
# Twilio error codes that will not succeed on retry, and what they mean for an agent.
PERMANENT_ERRORS = {
    21211: "The phone number is not valid.",
    21408: "Sending to this region is not enabled on the Twilio account.",
    21610: "The customer replied STOP to this number; they must reply START before we can text them.",
    21612: "This number cannot be reached from the sending number.",
    21614: "The number is not a mobile number and cannot receive SMS.",
    63016: "Outside WhatsApp's 24-hour window: only an approved template can be sent now.",
}
RETRYABLE_ERRORS = {20429, 20500, 20503}
# Carrier errors a status callback reports after the send, in words, with what to do about them (error_words()
# reads these and the refusals above).
DELIVERY_ERRORS = {
    30003: "The phone is switched off or out of reach. Try again later, or reach them on another channel.",
    30004: "The customer's carrier or phone blocked the message. Ask them to allow texts from this number.",
    30005: "The number does not exist or is no longer in service. Check it with the customer.",
    30006: "The number cannot receive texts (a landline, or a carrier that does not deliver them). Call instead.",
    30007: "The carrier filtered it as spam. Avoid link shorteners and all-caps, and register the number for "
    "business texting (A2P 10DLC in the US).",
    30008: "The carrier did not say why it was not delivered. Try again later; if it repeats, use another channel.",
    30034: "Sent from a US number that is not registered for business texting (A2P 10DLC): carriers drop it. "
    "An admin registers the number's campaign with Twilio.",
}


def error_words(code: int) -> str | None:
    """What an agent should know about a Twilio error code, in words with what to do; None for one we do not know."""
    return DELIVERY_ERRORS.get(code) or PERMANENT_ERRORS.get(code)


def explain(code: str) -> str:
    """A status callback's ErrorCode in words ("Twilio error N" for one we do not know; "" for none)."""
    if not code.isdigit():
        return ""
    return error_words(int(code)) or f"Twilio error {code}."


class MalformedPayload(Exception):
    """Signed by Twilio but not what a messaging webhook carries: kept, marked failed, replayable."""


def webhook_url(endpoint: ChannelEndpoint, kind: str) -> str:
    """The URL Twilio calls (and signs): on the public base URL, which may differ from what the proxy passes on."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/twilio/{endpoint.public_id}/{kind}"


def verify(request: HttpRequest, endpoint: ChannelEndpoint, kind: str, *, token: str | None = None) -> bool:
    if token is None:
        token = credentials_get(endpoint).get("auth_token", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    url = webhook_url(endpoint, kind)
    if request.META.get("QUERY_STRING"):
        url = f"{url}?{request.META['QUERY_STRING']}"
    return bool(RequestValidator(token).validate(url, dict(request.POST.items()), signature))


# Voice webhooks: the call arriving, what the caller said (Gather) or the end of their recording (Record's action),
# the call's status changes, the recording ready, the transcription ready.
VOICE_KINDS = {"voice", "gather", "call", "recording", "transcription"}
CALL_OUTCOMES = {
    "completed": "answered",
    "busy": "the line was busy",
    "no-answer": "nobody answered",
    "failed": "the call could not be connected",
    "canceled": "the call was canceled before it was answered",
}


def _voice_key(kind: str, payload: dict[str, str]) -> str:
    call = payload.get("CallSid", "")
    if kind == "call":
        return f"{call}:call:{payload.get('CallStatus', '')}"
    if kind == "recording":
        return f"{payload.get('RecordingSid', '')}:recording:{payload.get('RecordingStatus', '')}"
    if kind == "transcription":
        return f"{payload.get('TranscriptionSid') or payload.get('RecordingSid', '')}:transcription"
    return f"{call}:{kind}"


def idempotency_key(kind: str, payload: dict[str, str]) -> str:
    if kind in VOICE_KINDS and payload.get("CallSid"):
        return _voice_key(kind, payload)
    sid = payload.get("MessageSid") or payload.get("SmsSid") or ""
    if kind == "status" and sid:
        return f"{sid}:{payload.get('MessageStatus', '')}"
    if sid:
        return sid
    # Signed but without an id: keyed on its content, so that a retry of it is still one event.
    return "no-sid:" + hashlib.sha256(repr(sorted(payload.items())).encode()).hexdigest()


@dataclass(frozen=True)
class Inbound:
    sid: str
    channel: str  # sms or whatsapp
    identity_kind: str  # phone or whatsapp
    sender: str
    body: str
    profile_name: str
    media: list[tuple[str, str]]  # (url, content type)
    location: dict[str, Any] | None = None  # a shared WhatsApp location: latitude, longitude, address, label


def parse_location(payload: dict[str, Any]) -> dict[str, Any] | None:
    """A WhatsApp location share (Latitude, Longitude, and for a place its Address and Label), or None."""
    try:
        latitude, longitude = float(payload["Latitude"]), float(payload["Longitude"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    place: dict[str, Any] = {"latitude": round(latitude, 6), "longitude": round(longitude, 6)}
    for field, key in (("Address", "address"), ("Label", "label")):
        value = " ".join(str(payload.get(field) or "").split())[:300]
        if value:
            place[key] = value
    return place


def location_text(place: dict[str, Any]) -> str:
    """A location as a line of the thread (and the list's preview)."""
    named = ", ".join(str(place[k]) for k in ("label", "address") if place.get(k))
    where = named or f"{place['latitude']}, {place['longitude']}"
    return f"Shared a location: {where}"


def parse_messaging(payload: dict[str, Any]) -> Inbound:
    sid = payload.get("MessageSid") or payload.get("SmsSid")
    sender = payload.get("From", "")
    if not sid or not sender:
        raise MalformedPayload("A messaging webhook needs MessageSid and From.")
    whatsapp = sender.lower().startswith(WHATSAPP)
    try:
        count = int(payload.get("NumMedia", "0") or 0)
    except ValueError:
        raise MalformedPayload(f"NumMedia is not a number: {payload.get('NumMedia')!r}.") from None
    media = [
        (payload[f"MediaUrl{i}"], payload.get(f"MediaContentType{i}", ""))
        for i in range(count)
        if payload.get(f"MediaUrl{i}")
    ]
    return Inbound(
        sid=sid,
        channel="whatsapp" if whatsapp else "sms",
        identity_kind="whatsapp" if whatsapp else "phone",
        sender=sender[len(WHATSAPP) :] if whatsapp else sender,
        body=payload.get("Body", ""),
        profile_name=payload.get("ProfileName", ""),
        media=media,
        location=parse_location(payload),
    )


def rest_auth(credentials: dict[str, str]) -> tuple[str, str]:
    """Who calls Twilio's REST API: an API key (SK...) when the endpoint has one, else the account and its auth
    token. (Webhook signatures are always checked with the auth token: Twilio signs with it.)"""
    if credentials.get("api_key_sid") and credentials.get("api_key_secret"):
        return credentials["api_key_sid"], credentials["api_key_secret"]
    return credentials.get("account_sid", ""), credentials.get("auth_token", "")


def media_hosts() -> list[str]:
    """The hosts Twilio media and recordings are fetched from, and the only ones its credentials are sent to."""
    sandbox = urlsplit(settings.TWILIO_API_BASE_URL).hostname if settings.TWILIO_API_BASE_URL else None
    return [*settings.TWILIO_MEDIA_HOSTS, *([sandbox] if sandbox else [])]


def client_for(endpoint: ChannelEndpoint) -> Client:
    credentials = credentials_get(endpoint)
    username, password = rest_auth(credentials)
    if sandbox.is_sandbox(endpoint):  # the simulated carrier answers in-process: nothing leaves the machine
        return Client(username, password, account_sid=credentials.get("account_sid", ""),
                      http_client=sandbox.CarrierHttpClient(endpoint))  # fmt: skip
    # Every call has a time limit: a Twilio that hangs fails the try (and the delivery asks before sending again).
    http = TwilioHttpClient(timeout=settings.TWILIO_HTTP_TIMEOUT)
    client = Client(username, password, account_sid=credentials.get("account_sid", ""), http_client=http)
    if settings.TWILIO_API_BASE_URL:  # a test double or a regional edge; Twilio itself otherwise
        client.api.base_url = settings.TWILIO_API_BASE_URL
        client.content.base_url = settings.TWILIO_API_BASE_URL
    return client


def _addresses(endpoint: ChannelEndpoint, to: str, channel: str) -> tuple[str, str, str]:
    """(to, from, messaging service) as Twilio spells them for this channel."""
    prefix = WHATSAPP if channel == "whatsapp" else ""
    sender = endpoint.address if endpoint.address.startswith(prefix) else f"{prefix}{endpoint.address}"
    return f"{prefix}{to}", sender, str(endpoint.options.get("messaging_service_sid") or "")


def send(
    endpoint: ChannelEndpoint, *, to: str, body: str, channel: str, template: dict[str, Any] | None = None
) -> tuple[str, str]:
    """Send one message; returns Twilio's sid and status. Raises TwilioRestException for Twilio's refusals.
    `template` ({"content_sid", "variables"}) sends an approved WhatsApp template instead of free text: Twilio
    fills its variables, and WhatsApp delivers it outside the 24-hour window."""
    recipient, sender, service = _addresses(endpoint, to, channel)
    # A Messaging Service picks the sender itself (number pools, sticky senders); else the endpoint's number.
    origin = {"messaging_service_sid": service} if service else {"from_": sender}
    content: dict[str, Any] = {"body": body}
    if template:
        content = {
            "content_sid": str(template["content_sid"]),
            "content_variables": json.dumps({str(k): str(v) for k, v in (template.get("variables") or {}).items()}),
        }
    message = client_for(endpoint).messages.create(
        to=recipient, status_callback=webhook_url(endpoint, "status"), **content, **origin
    )
    return str(message.sid), str(message.status or "queued")


# The Content API's types, in the order their text is read for the thread (a card's body, a media's caption).
_TEMPLATE_TYPES = ("twilio/text", "twilio/quick-reply", "twilio/call-to-action", "twilio/media", "twilio/card",
                   "whatsapp/card", "twilio/list-picker", "whatsapp/authentication")  # fmt: skip


@dataclass(frozen=True)
class Template:
    content_sid: str
    name: str
    language: str
    category: str
    body: str
    samples: dict[str, str]
    status: str
    rejection_reason: str


def templates(endpoint: ChannelEndpoint) -> list[Template]:
    """The Content API's templates with their WhatsApp approval (GET /v1/ContentAndApprovals, every page)."""
    found = []
    for item in client_for(endpoint).content.v1.content_and_approvals.stream(page_size=100, limit=2000):
        types = item.types or {}
        kind = next((t for t in _TEMPLATE_TYPES if isinstance(types.get(t), dict)), None)
        body = ""
        if kind is not None:
            part = types[kind]
            body = str(part.get("body") or part.get("title") or "")
        approval = item.approval_requests or {}
        found.append(
            Template(
                content_sid=str(item.sid),
                name=str(item.friendly_name or approval.get("name") or item.sid)[:200],
                language=str(item.language or "")[:16],
                category=str(approval.get("category") or "")[:32],
                body=body,
                samples={str(k): str(v) for k, v in (item.variables or {}).items()},
                status=str(approval.get("status") or "unsubmitted").lower(),
                rejection_reason=str(approval.get("rejection_reason") or "")[:500],
            )
        )
    return found


def find_sent(
    endpoint: ChannelEndpoint, *, to: str, body: str, channel: str, since: datetime
) -> tuple[str, str] | None:
    """A message Twilio already accepted from this endpoint to `to` with this body since `since` (sid, status):
    asked before sending again after a try whose answer was lost, so the customer never gets it twice."""
    recipient, sender, service = _addresses(endpoint, to, channel)
    origin = {} if service else {"from_": sender}
    for sent in client_for(endpoint).messages.list(to=recipient, limit=50, **origin):
        created = sent.date_created
        if sent.body == body and (created is None or created >= since - timedelta(minutes=2)):
            return str(sent.sid), str(sent.status or "queued")
    return None


def failure(exc: TwilioRestException) -> tuple[bool, str, str]:
    """(retry?, code, a reason an agent understands)."""
    code = int(exc.code or 0)
    if code in RETRYABLE_ERRORS or (exc.status and exc.status >= 500):
        return True, str(code or exc.status), f"Twilio was busy or failing (error {code or exc.status})."
    return False, str(code or exc.status), (error_words(code) or f"Twilio refused the message: {exc.msg}")[:500]


def check(endpoint: ChannelEndpoint) -> str:
    """Ask Twilio whether the endpoint's credentials work and its number belongs to that Twilio account; returns
    what an admin should know. Raises TwilioRestException when Twilio refuses the credentials."""
    client = client_for(endpoint)
    credentials = credentials_get(endpoint)
    account = client.api.v2010.accounts(credentials.get("account_sid", "")).fetch()
    name = account.friendly_name or account.sid
    if endpoint.kind == "whatsapp":  # WhatsApp senders are registered apart from the account's phone numbers
        return (
            f"Twilio accepted the credentials (account {name}). "
            f"Send a WhatsApp message to {endpoint.address} to finish checking."
        )
    number = endpoint.address.removeprefix(WHATSAPP)
    if not client.incoming_phone_numbers.list(phone_number=number, limit=1):
        return f"Twilio accepted the credentials (account {name}), but {number} is not a number of that account."
    return f"Twilio accepted the credentials (account {name}) and {number} belongs to it."


# --- Voice ---------------------------------------------------------------------------------------------------


def answer(endpoint: ChannelEndpoint, inbox_name: str) -> str:
    """TwiML for an incoming call: the inbox's greeting, then what the caller wants, by speech (Gather) or as a
    voicemail (Record, transcribed by Twilio)."""
    greeting = endpoint.options.get("greeting") or f"Thanks for calling {inbox_name}."
    response = VoiceResponse()
    if endpoint.options.get("voice_mode") == "gather":
        gather = Gather(
            input="speech",
            action=webhook_url(endpoint, "gather"),
            speech_timeout="auto",
            language=endpoint.options.get("language") or "en-US",
        )
        gather.say(f"{greeting} In a few words, how can we help you?")
        response.append(gather)
        response.say("We did not hear anything. We will call you back. Goodbye.")
        return str(response)
    response.say(f"{greeting} Please leave your name and how we can help after the tone; we will get back to you.")
    response.record(
        max_length=120,
        play_beep=True,
        timeout=5,
        transcribe=True,
        transcribe_callback=webhook_url(endpoint, "transcription"),
        recording_status_callback=webhook_url(endpoint, "recording"),
        recording_status_callback_event="completed",
        action=webhook_url(endpoint, "gather"),
    )
    response.say("We did not get a message. Goodbye.")
    return str(response)


def goodbye() -> str:
    response = VoiceResponse()
    response.say("Thank you. We have your message and will get back to you soon. Goodbye.")
    response.hangup()
    return str(response)


def call_outcome(payload: dict[str, str]) -> str:
    status = payload.get("CallStatus", "")
    if status == "completed":
        seconds = int(payload.get("CallDuration") or 0)
        return f"Call ended after {seconds // 60} min {seconds % 60} s."
    return f"Call not connected: {CALL_OUTCOMES.get(status, status)}."


def call(endpoint: ChannelEndpoint, *, agent_phone: str, customer_phone: str, customer_name: str) -> tuple[str, str]:
    """Ring the agent's phone; when they answer, connect them to the customer (caller id: the inbox's number)."""
    response = VoiceResponse()
    response.say(f"Connecting you to {customer_name or 'the customer'}.")
    dial = Dial(caller_id=endpoint.address, timeout=30)
    dial.number(customer_phone)
    response.append(dial)
    created = client_for(endpoint).calls.create(
        to=agent_phone,
        from_=endpoint.address,
        twiml=str(response),
        status_callback=webhook_url(endpoint, "call"),
        status_callback_event=["completed"],
    )
    return str(created.sid), str(created.status or "queued")

"""Twilio's events and replies: SMS and WhatsApp messages, their delivery callbacks, calls (voice), and
sending texts and call backs through the twilio client. Parsing and signing are in adapters/twilio.py."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from accounts import outbound
from accounts.errors import ServiceError
from contacts.models import ContactIdentity
from contacts.services import contact_resolve
from inbox.attachments import IncomingFile, attachment_check
from inbox.models import DeliveryStatus, Message
from inbox.selectors import whatsapp_window_open
from inbox.services import conversation_note_activity, message_attach, message_set_delivery, receive_message

from ..adapters import twilio
from ..credentials import credentials_get
from ..models import ChannelEndpoint, InboundEvent
from . import NotYet

logger = logging.getLogger(__name__)


TWILIO_STATUS = {
    "accepted": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",  # a scheduled message canceled before it was sent
    "partially_delivered": "delivered",  # some of its parts reached the phone: delivered, with a note
}

STATUS_NOTES = {
    "canceled": "Canceled before it was sent (a scheduled send was canceled in Twilio).",
    "partially_delivered": "Only part of it reached the phone (one of its segments or files was not delivered).",
}


def messaging(event: InboundEvent) -> None:
    endpoint = event.endpoint
    inbound = twilio.parse_messaging(event.payload)
    try:
        contact = contact_resolve(
            account=event.account,
            kind=inbound.identity_kind,
            raw_address=inbound.sender,
            name=inbound.profile_name or None,
        )
    except Exception as exc:
        raise twilio.MalformedPayload(f"From {inbound.sender!r} is not an address we can use: {exc}") from exc
    word = inbound.body.strip().upper()
    if word in twilio.STOP_WORDS or word in twilio.START_WORDS:
        ContactIdentity.objects.filter(account=event.account, contact=contact, kind=inbound.identity_kind).update(
            opted_out_at=timezone.now() if word in twilio.STOP_WORDS else None
        )
    files, refused = [], []
    for n, (url, content_type) in enumerate(inbound.media):
        filename = f"media-{n + 1}.{(content_type.split('/')[-1] or 'bin')[:8]}"
        try:
            incoming = _download(endpoint, url, content_type, filename)
        except outbound.OutboundRefused as exc:  # the text is kept; the agent is told which file and why
            logger.warning("media of event %s not fetched: %s", event.pk, exc.reason)
            refused.append(f"{filename}: {exc.reason}")
            continue
        try:
            attachment_check(incoming)
        except ServiceError as exc:  # a vCard, say: the photo and the text beside it are kept
            refused.append(exc.message)
            continue
        files.append(incoming)
    metadata: dict[str, Any] = {"to": event.payload.get("To", "")}
    if refused:
        metadata["attachments_refused"] = refused
    body = inbound.body
    if inbound.location is not None:  # kept whole; the line says where, for the thread, the preview and search
        metadata["location"] = inbound.location
        body = body or twilio.location_text(inbound.location)
    receive_message(
        account=event.account,
        inbox=endpoint.inbox,
        contact=contact,
        channel=inbound.channel,
        body=body,
        provider_endpoint=str(endpoint.public_id),
        provider_id=inbound.sid,
        attachments=files,
        metadata=metadata,
    )


def _caller(event: InboundEvent, field: str = "From") -> Any:
    raw = event.payload.get(field, "")
    try:
        return contact_resolve(account=event.account, kind="phone", raw_address=raw)
    except ServiceError as exc:
        raise twilio.MalformedPayload(f"{field} {raw!r} is not a phone number we can use: {exc.message}") from None


def _call_message(event: InboundEvent, call_sid: str) -> Message | None:
    return (
        Message.objects.select_related("conversation")
        .filter(account=event.account, provider_endpoint=str(event.endpoint.public_id), provider_id=call_sid)
        .first()
    )


def _call_arrived(event: InboundEvent) -> None:
    payload = event.payload
    if not payload.get("CallSid") or not payload.get("From"):
        raise twilio.MalformedPayload("A voice webhook needs CallSid and From.")
    receive_message(
        account=event.account,
        inbox=event.endpoint.inbox,
        contact=_caller(event),
        channel="voice",
        body="",
        provider_endpoint=str(event.endpoint.public_id),
        provider_id=payload["CallSid"],
        metadata={"call": "inbound", "to": payload.get("To", ""), "from": payload.get("From", "")},
    )


def _speech(event: InboundEvent) -> None:
    payload = event.payload
    if not payload.get("CallSid"):
        raise twilio.MalformedPayload("A Gather callback needs CallSid.")
    call = _call_message(event, payload["CallSid"])
    receive_message(
        account=event.account,
        inbox=event.endpoint.inbox,
        contact=call.contact if call else _caller(event),
        channel="voice",
        body=payload.get("SpeechResult", "").strip() or "(the caller said nothing we could understand)",
        provider_endpoint=str(event.endpoint.public_id),
        provider_id=f"{payload['CallSid']}:speech",
        metadata={"call": "speech", "confidence": payload.get("Confidence", "")},
        thread=call.conversation if call else None,
    )


def _recording(event: InboundEvent) -> None:
    payload = event.payload
    url, call_sid = payload.get("RecordingUrl", ""), payload.get("CallSid", "")
    if not url or not call_sid:
        raise twilio.MalformedPayload("A recording callback needs RecordingUrl and CallSid.")
    if payload.get("RecordingStatus", "completed") != "completed":
        return
    call = _call_message(event, call_sid)
    if call is None:
        raise twilio.MalformedPayload(f"No call we know has the sid {call_sid}.")
    seconds = payload.get("RecordingDuration", "")
    try:
        audio = _download(event.endpoint, f"{url}.mp3", "audio/mpeg", f"voicemail-{seconds or 'call'}s.mp3")
    except outbound.OutboundRefused as exc:
        logger.warning("recording of event %s not fetched: %s", event.pk, exc.reason)
        conversation_note_activity(
            account=event.account, conversation=call.conversation, text=f"The recording was not kept: {exc.reason}"
        )
        return
    message_attach(account=event.account, message=call, files=[audio])


def _transcription(event: InboundEvent) -> None:
    payload = event.payload
    call_sid = payload.get("CallSid", "")
    if not call_sid:
        raise twilio.MalformedPayload("A transcription callback needs CallSid.")
    call = _call_message(event, call_sid)
    if payload.get("TranscriptionStatus") != "completed":
        if call is not None:
            conversation_note_activity(
                account=event.account, conversation=call.conversation, text="The voicemail could not be transcribed."
            )
        return
    receive_message(
        account=event.account,
        inbox=event.endpoint.inbox,
        contact=call.contact if call else _caller(event),
        channel="voice",
        body=payload.get("TranscriptionText", "").strip(),
        provider_endpoint=str(event.endpoint.public_id),
        provider_id=f"{payload.get('TranscriptionSid') or payload.get('RecordingSid', '')}:transcript",
        metadata={"call": "transcript", "call_sid": call_sid},
        thread=call.conversation if call else None,
    )


def _call_status(event: InboundEvent) -> None:
    payload = event.payload
    call_sid, status = payload.get("CallSid", ""), payload.get("CallStatus", "")
    if not call_sid or not status:
        raise twilio.MalformedPayload("A call status callback needs CallSid and CallStatus.")
    if status not in twilio.CALL_OUTCOMES:
        return  # ringing, in-progress: the outcome comes later
    call = _call_message(event, call_sid)
    if call is None:
        raise twilio.MalformedPayload(f"No call we know has the sid {call_sid}.")
    outcome = twilio.call_outcome(payload)
    if call.direction == "out":
        answered = status == "completed"
        message_set_delivery(
            account=event.account,
            message=call,
            status=DeliveryStatus.DELIVERED if answered else DeliveryStatus.FAILED,
            error_code="" if answered else status,
            error_message="" if answered else outcome,
        )
    conversation_note_activity(account=event.account, conversation=call.conversation, text=outcome)


VOICE_HANDLERS = {
    "voice": _call_arrived,
    "gather": _speech,
    "recording": _recording,
    "transcription": _transcription,
    "call": _call_status,
}


def _download(endpoint: ChannelEndpoint, url: str, content_type: str, filename: str) -> IncomingFile:
    """A provider's media file, fetched only from Twilio's own hosts (its credentials go nowhere else), capped
    at the attachment limit while it streams; OutboundRefused says why not."""
    fetched = outbound.fetch(
        url,
        hosts=twilio.media_hosts(),
        auth=twilio.rest_auth(credentials_get(endpoint)),
        max_bytes=settings.ATTACHMENT_MAX_BYTES,
    )
    return IncomingFile.from_bytes(filename, fetched.content, content_type or fetched.content_type)


def status_callback(event: InboundEvent) -> None:
    payload = event.payload
    sid, raw = payload.get("MessageSid", ""), payload.get("MessageStatus", "")
    if not sid or raw not in TWILIO_STATUS:
        raise twilio.MalformedPayload(f"A status callback needs MessageSid and a known MessageStatus, not {raw!r}.")
    message = Message.objects.filter(
        account=event.account, provider_endpoint=str(event.endpoint.public_id), provider_id=sid
    ).first()
    if message is None:  # the callback beat the send's answer (or the answer was lost): wait for the sid
        raise NotYet(f"No message we sent has the sid {sid} yet.")
    code = payload.get("ErrorCode", "")
    reason = " ".join(r for r in (STATUS_NOTES.get(raw, ""), twilio.explain(code)) if r)
    message_set_delivery(
        account=event.account, message=message, status=TWILIO_STATUS[raw], error_code=code, error_message=reason
    )


class TwilioFailed(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _twilio_call(task, call):  # type: ignore[no-untyped-def]
    """Run one Twilio REST call for a delivery task: Twilio's 429/5xx and network errors are retried with
    backoff (the task is re-queued); a refusal, or the last failed try, raises TwilioFailed with a reason."""
    try:
        return call()
    except TwilioRestException as exc:
        retry, code, reason = twilio.failure(exc)
        if retry and task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=2 * 2**task.request.retries) from exc
        if retry:  # the last try: say so, not "retrying"
            reason = f"{reason} Not sent after {task.max_retries + 1} tries."
        raise TwilioFailed(code, reason) from exc
    except (TwilioException, requests.RequestException) as exc:  # the network: try again, then say so
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=2 * 2**task.request.retries) from exc
        tries = task.max_retries + 1
        raise TwilioFailed("network", f"Could not reach Twilio after {tries} tries ({type(exc).__name__}).") from exc


def _send_once(task, message: Message, endpoint: ChannelEndpoint, to: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Twilio's (sid, status) for this message, sent at most once: the attempt is recorded before the call, and a
    later try after an unanswered one first asks Twilio whether it went out."""
    body, channel = message.body, message.channel
    attempt = message.metadata.get("send_attempt")
    if attempt:  # an earlier try may have reached Twilio although its answer was lost: ask, do not resend
        since = datetime.fromisoformat(attempt)
        found = _twilio_call(task, lambda: twilio.find_sent(endpoint, to=to, body=body, channel=channel, since=since))
        if found is not None:
            return found
    _record_attempt(message)
    template = message.metadata.get("template") or None  # an approved WhatsApp template, Twilio fills it
    return _twilio_call(task, lambda: twilio.send(endpoint, to=to, body=body, channel=channel, template=template))


def _record_attempt(message: Message) -> None:
    """Written (and committed) before the provider is called: a later try knows to ask before sending again."""
    first = message.metadata.get("send_attempt") or timezone.now().isoformat()
    message.metadata = {**message.metadata, "send_attempt": first}
    Message.objects.filter(pk=message.pk).update(metadata=message.metadata)


def deliver_call(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
    """Place a call back: ring the agent, then connect them to the customer from the inbox's number."""
    endpoint = (
        ChannelEndpoint.objects.filter(account=message.account, inbox_id=message.inbox_id, enabled=True)
        .filter(kind__in=["voice", "sms"], provider="twilio")
        .order_by("-kind")  # a voice number first, else an SMS number (one Twilio number often does both)
        .first()
    )
    if endpoint is None:
        return str(fail("no_endpoint", "No phone number is connected to this inbox."))
    try:
        sid, _status = _twilio_call(
            task,
            lambda: twilio.call(
                endpoint,
                agent_phone=str(message.metadata.get("agent_phone", "")),
                customer_phone=str(message.metadata.get("to", "")),
                customer_name=message.contact.name,
            ),
        )
    except TwilioFailed as exc:
        return str(fail(exc.code, exc.reason))
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id), provider_id=sid)
    message_set_delivery(account=message.account, message=message, status=DeliveryStatus.SENT)
    return "calling"


def deliver_text(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
    """An SMS or WhatsApp reply through the inbox's Twilio number, sent at most once."""
    account = message.account
    endpoint = ChannelEndpoint.objects.filter(
        account=account, inbox_id=message.inbox_id, kind=message.channel, enabled=True
    ).first()
    if endpoint is None:
        return fail("no_endpoint", f"No {message.get_channel_display()} number is connected to this inbox.")
    kind = "whatsapp" if message.channel == "whatsapp" else "phone"
    identity = ContactIdentity.objects.filter(account=account, contact=message.contact, kind=kind).first()
    if identity is None:
        return fail("no_address", f"The customer has no {message.get_channel_display()} number.")
    if identity.opted_out_at is not None:
        return fail("opted_out", "The customer opted out (STOP): nothing is sent until they reply START.")
    if (
        message.channel == "whatsapp"
        and not message.metadata.get("template")  # a template is what WhatsApp delivers outside the window
        and not whatsapp_window_open(account=account, contact_id=message.contact_id)
    ):
        return fail("63016", twilio.PERMANENT_ERRORS[63016])
    try:
        found = _send_once(task, message, endpoint, identity.value)
    except TwilioFailed as exc:
        return fail(exc.code, exc.reason)
    sid, status = found
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id), provider_id=sid)
    if TWILIO_STATUS.get(status, "queued") != DeliveryStatus.QUEUED:
        message_set_delivery(account=account, message=message, status=TWILIO_STATUS[status])
    return "sent"

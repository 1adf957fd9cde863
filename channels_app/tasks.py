"""Channel work (queue `channels`): turning stored inbound events into messages, delivering replies, and the
sweeper that catches events whose task never ran (the broker was down when they arrived)."""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any

import requests
from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from accounts import outbound
from accounts.errors import ServiceError
from accounts.locks import advisory_session_try_lock
from accounts.tenant_db import db_retry, tenant_task
from contacts.models import ContactIdentity
from contacts.services import contact_resolve
from inbox import events
from inbox.attachments import IncomingFile, attachment_check
from inbox.models import Conversation, DeliveryStatus, Message, SenderType
from inbox.services import conversation_note_activity, message_attach, message_set_delivery, receive_message

from . import webchat
from .adapters import email, twilio
from .credentials import credentials_get
from .models import ChannelEndpoint, EventStatus, InboundEvent

logger = logging.getLogger(__name__)
PROVIDER_ID_MAX = Message._meta.get_field("provider_id").max_length or 128
MAX_ATTEMPTS = 10
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


class NotYet(Exception):
    """What the event refers to is not stored yet: the event is retried with backoff, not failed."""


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=5, time_limit=120, soft_time_limit=100)
@db_retry
def process_inbound_event(self, event_id: int) -> str:  # type: ignore[no-untyped-def]
    event = InboundEvent.objects.select_related("endpoint", "endpoint__inbox", "account").filter(pk=event_id).first()
    if event is None or event.status == EventStatus.PROCESSED:
        return "nothing to do"
    InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    try:
        with transaction.atomic():
            if event.kind == "messaging":
                _messaging(event)
            elif event.kind == "status":
                _status(event)
            elif event.kind == "email":
                _email(event)
            elif event.kind in VOICE_HANDLERS:
                VOICE_HANDLERS[event.kind](event)
            else:
                raise twilio.MalformedPayload(f"Unknown event kind {event.kind!r}.")
            InboundEvent.objects.filter(pk=event.pk).update(
                status=EventStatus.PROCESSED, processed_at=timezone.now(), error=""
            )
    except (twilio.MalformedPayload, email.MalformedEmail) as exc:
        InboundEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, error=str(exc)[:500])
        return "failed"
    except NotYet as exc:  # e.g. a status callback before its message's sid is stored: try again shortly
        if self.request.retries >= self.max_retries:
            InboundEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, error=str(exc)[:500])
            return "failed"
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
    except (OperationalError, requests.RequestException) as exc:
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
    except Exception as exc:  # kept for replay with the reason, never lost
        logger.exception("inbound event %s failed", event.pk)
        InboundEvent.objects.filter(pk=event.pk).update(
            status=EventStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:500]
        )
        return "failed"
    return "processed"


def _messaging(event: InboundEvent) -> None:
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


def _email(event: InboundEvent) -> None:
    endpoint = event.endpoint
    mail = email.parse(event.payload)
    try:
        contact = contact_resolve(
            account=event.account, kind="email", raw_address=mail.sender, name=mail.sender_name or None
        )
    except ServiceError as exc:
        raise email.MalformedEmail(f"From {mail.sender!r} is not an address we can use: {exc.message}") from None
    files, refused = [], list(mail.refused)
    for filename, content_type, data in mail.attachments:
        incoming = IncomingFile.from_bytes(filename, data, content_type)
        try:
            attachment_check(incoming)
        except ServiceError as exc:  # kept out, and the agent is told which file and why
            refused.append(exc.message)
            continue
        files.append(incoming)
    body = email.visible_text(mail)
    provider_id = (mail.message_id or f"event:{event.pk}")[:PROVIDER_ID_MAX]
    same_id = Message.objects.filter(
        account=event.account, provider_endpoint=str(endpoint.public_id), provider_id=provider_id
    )
    if same_id.exists():  # another email reusing a Message-ID (a retry of the same email is the same event)
        provider_id = f"{provider_id[: PROVIDER_ID_MAX - 24]}#event:{event.pk}"
    receive_message(
        account=event.account,
        inbox=endpoint.inbox,
        contact=contact,
        channel="email",
        body=body,
        provider_endpoint=str(endpoint.public_id),
        provider_id=provider_id,
        attachments=files,
        metadata={
            "subject": mail.subject[:300],
            "to": mail.recipients[:20],
            "references": [*mail.references, mail.in_reply_to][-20:] if mail.in_reply_to else mail.references[-20:],
            "html": email.safe_html(mail.html),
            "quoted_text_removed": body != (mail.text or "").strip(),
            "attachments_refused": refused,
            **({"automated": automated} if (automated := email.automated_reason(mail)) else {}),
        },
        thread=_email_thread(event, mail),
    )


def _email_thread(event: InboundEvent, mail: email.InboundEmail) -> Conversation | None:
    """The conversation an email answers: by its In-Reply-To/References against the Message-IDs of this
    endpoint's emails (ours and the customer's), else by a reply+<token>@ address it was sent to."""
    endpoint = event.endpoint
    if mail.thread_ids:
        answered = (
            Message.objects.filter(
                account=event.account,
                provider_endpoint=str(endpoint.public_id),
                provider_id__in=[i[:PROVIDER_ID_MAX] for i in mail.thread_ids[:20]],
            )
            .select_related("conversation")
            .order_by("-created_at")
            .first()
        )
        if answered is not None:
            return answered.conversation
    conversation_id = email.conversation_from_token(event.account_id, mail.recipients)
    if conversation_id is not None:
        return Conversation.objects.filter(account=event.account, inbox=endpoint.inbox, pk=conversation_id).first()
    return None


# --- Voice ---------------------------------------------------------------------------------------------------


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


def _status(event: InboundEvent) -> None:
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


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sweep_outbound() -> int:
    """Beat: re-queue replies still queued after two minutes (the broker was down when they were written, or their
    task was lost). Safe beside a try still running or retrying: the delivery claim and the attempt record make
    a re-queued reply ask Twilio before it sends again."""
    now = timezone.now()
    stuck = Message.objects.filter(
        direction="out",
        kind="message",
        delivery_status=DeliveryStatus.QUEUED,
        provider_id="",
        created_at__lt=now - timedelta(seconds=settings.OUTBOUND_SWEEP_AFTER_SECONDS),
        created_at__gt=now - timedelta(days=1),
    ).values_list("account_id", "pk")[:500]
    for account_id, message_id in stuck:
        deliver_message.delay(account_id, message_id)
    return len(stuck)


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sweep_inbound_events() -> int:
    """Beat: enqueue events still pending after 30 s (their task was never queued, or was lost)."""
    stale = InboundEvent.objects.filter(
        status=EventStatus.PENDING,
        received_at__lt=timezone.now() - timedelta(seconds=settings.INBOUND_SWEEP_AFTER_SECONDS),
        attempts__lt=MAX_ATTEMPTS,
    ).values_list("pk", flat=True)[:500]
    for event_id in stale:
        process_inbound_event.delay(event_id)
    return len(stale)


@shared_task(bind=True, acks_late=True, max_retries=5, time_limit=60, soft_time_limit=50)
@db_retry
@tenant_task
def deliver_message(self, account_id: int, message_id: int) -> str:  # type: ignore[no-untyped-def]
    """Send a queued reply on its channel. Idempotent: a message with a provider id was already sent."""
    message = (
        Message.objects.select_related("account", "conversation", "contact")
        .filter(account_id=account_id, pk=message_id, direction="out", kind="message")
        .first()
    )
    if message is None or message.provider_id or message.delivery_status != DeliveryStatus.QUEUED:
        return "nothing to do"
    # One sender per reply: a sweeper's re-queue never sends beside a try still running (accounts.locks).
    with advisory_session_try_lock(f"deliver:{message.pk}") as claimed:
        if not claimed:  # a try still running (a sweeper's re-queue met it): that one finishes the job
            return "another worker is sending it"
        message.refresh_from_db(fields=["provider_id", "delivery_status", "metadata"])
        if message.provider_id or message.delivery_status != DeliveryStatus.QUEUED:
            return "nothing to do"
        return _deliver(self, message)


def _deliver(task, message: Message) -> str:  # type: ignore[no-untyped-def]
    account = message.account

    def fail(code: str, reason: str) -> str:
        message_set_delivery(
            account=account, message=message, status=DeliveryStatus.FAILED, error_code=code, error_message=reason
        )
        return "failed"

    if message.channel == "email":
        return _deliver_email(task, message, fail)
    if message.channel == "webchat":
        return _deliver_webchat(message, fail)
    if message.channel == "voice":
        return _deliver_call(task, message, fail)
    if message.channel not in ("sms", "whatsapp"):
        return f"no provider for {message.channel} yet"

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
    if message.channel == "whatsapp":
        last = message.conversation.messages.filter(direction="in", channel="whatsapp").order_by("-created_at").first()
        if last is None or timezone.now() - last.created_at > timedelta(hours=24):
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
    return _twilio_call(task, lambda: twilio.send(endpoint, to=to, body=body, channel=channel))


def _record_attempt(message: Message) -> None:
    """Written (and committed) before the provider is called: a later try knows to ask before sending again."""
    first = message.metadata.get("send_attempt") or timezone.now().isoformat()
    message.metadata = {**message.metadata, "send_attempt": first}
    Message.objects.filter(pk=message.pk).update(metadata=message.metadata)


SMTP_PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)


def _deliver_email(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
    account, conversation = message.account, message.conversation
    endpoint = ChannelEndpoint.objects.filter(
        account=account, inbox_id=message.inbox_id, kind="email", enabled=True
    ).first()
    if endpoint is None:
        return str(fail("no_endpoint", "No email address is connected to this inbox."))
    identity = ContactIdentity.objects.filter(account=account, contact=message.contact, kind="email").first()
    if identity is None:
        return str(fail("no_address", "The customer has no email address."))
    last_in = (
        Message.objects.filter(conversation=conversation, direction="in", channel="email")
        .order_by("-created_at", "-id")
        .first()
    )
    subject = str(last_in.metadata.get("subject", "")) if last_in else ""
    if message.metadata.get("subject"):  # the team wrote first, with a subject of its own
        subject = str(message.metadata["subject"])
    elif not subject:
        subject = f"{conversation.inbox.name} — conversation #{conversation.number}"
    elif not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    # The Message-ID is chosen once and kept: a retry after a crash sends the same email, not a new thread.
    message_id = str(message.metadata.get("email_message_id") or email.new_message_id(endpoint))
    if "email_message_id" not in message.metadata:
        message.metadata["email_message_id"] = message_id
        Message.objects.filter(pk=message.pk).update(metadata=message.metadata)
    attachments = [(a.filename, a.file.read(), a.content_type) for a in message.attachments.all()]
    try:
        email.send(
            endpoint,
            to=identity.value,
            subject=subject,
            body=message.body,
            message_id=message_id,
            in_reply_to=last_in.provider_id if last_in and last_in.provider_id.startswith("<") else "",
            references=list(last_in.metadata.get("references", [])) if last_in else [],
            reply_to=email.reply_address(endpoint, conversation.pk),
            from_name=f"{account.name} {conversation.inbox.name}",
            attachments=attachments,
            automatic=message.sender_type != SenderType.USER,
        )
    except SMTP_PERMANENT as exc:
        return str(fail("smtp_refused", f"The mail server refused the email: {exc}"[:500]))
    except outbound.OutboundRefused as exc:
        return str(fail("smtp_not_allowed", f"The inbox's mail server is not allowed: {exc.reason}"[:500]))
    except (smtplib.SMTPException, OSError) as exc:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=5 * 2**task.request.retries) from exc
        return str(fail("smtp_unreachable", f"Could not hand the email to the mail server ({type(exc).__name__})."))
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id), provider_id=message_id)
    message_set_delivery(account=account, message=message, status=DeliveryStatus.SENT)
    return "sent"


def _deliver_webchat(message: Message, fail) -> str:  # type: ignore[no-untyped-def]
    """Push the reply to the visitor's open widgets; one that is closed shows it from history when it opens."""
    endpoint = ChannelEndpoint.objects.filter(
        account=message.account, inbox_id=message.inbox_id, kind="webchat", enabled=True
    ).first()
    if endpoint is None:
        return str(fail("no_endpoint", "No webchat widget is connected to this inbox."))
    if not ContactIdentity.objects.filter(account=message.account, contact=message.contact, kind="webchat").exists():
        return str(fail("no_address", "The customer has not used the webchat; reply on another channel."))
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id))
    # Sent before it is pushed: the widget's read receipt may come back at once.
    message_set_delivery(account=message.account, message=message, status=DeliveryStatus.SENT)
    event = {"type": "message", "message": webchat.message_json(message)}
    group = webchat.visitor_group(message.account_id, message.contact_id)
    events.send_group(group, {"type": "webchat.event", "event": event, "inbox_id": message.inbox_id})
    return "sent"


def _deliver_call(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
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


@shared_task(acks_late=True)
def sandbox_callback(endpoint_id: int, kind: str, fields: dict[str, str]) -> int:
    """The channel sandbox's carrier reporting back (a message sent and delivered, a call ended) through the
    signed webhook, as Twilio would a second later."""
    from . import sandbox

    return sandbox.callback(endpoint_id, kind, fields)

"""Channel work (queue `channels`): turning stored inbound events into messages, delivering replies, and the
sweeper that catches events whose task never ran (the broker was down when they arrived)."""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from celery import shared_task
from django.db import OperationalError, transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException

from contacts.models import ContactIdentity
from contacts.services import contact_resolve
from inbox.attachments import IncomingFile
from inbox.models import DeliveryStatus, Message
from inbox.services import message_set_delivery, receive_message

from .adapters import twilio
from .credentials import credentials_get
from .models import ChannelEndpoint, EventStatus, InboundEvent

logger = logging.getLogger(__name__)
SWEEP_AFTER = timedelta(seconds=30)
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
}


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=5, time_limit=120, soft_time_limit=100)
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
            InboundEvent.objects.filter(pk=event.pk).update(
                status=EventStatus.PROCESSED, processed_at=timezone.now(), error=""
            )
    except twilio.MalformedPayload as exc:
        InboundEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, error=str(exc)[:500])
        return "failed"
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
    files = [_download(endpoint, url, content_type, n) for n, (url, content_type) in enumerate(inbound.media)]
    receive_message(
        account=event.account,
        inbox=endpoint.inbox,
        contact=contact,
        channel=inbound.channel,
        body=inbound.body,
        provider_endpoint=str(endpoint.public_id),
        provider_id=inbound.sid,
        attachments=files,
        metadata={"to": event.payload.get("To", "")},
    )


def _download(endpoint: ChannelEndpoint, url: str, content_type: str, n: int) -> IncomingFile:
    credentials = credentials_get(endpoint)
    response = requests.get(
        url, auth=(credentials.get("account_sid", ""), credentials.get("auth_token", "")), timeout=20
    )
    response.raise_for_status()
    extension = (content_type.split("/")[-1] or "bin")[:8]
    return IncomingFile.from_bytes(f"media-{n + 1}.{extension}", response.content, content_type)


def _status(event: InboundEvent) -> None:
    payload = event.payload
    sid, raw = payload.get("MessageSid", ""), payload.get("MessageStatus", "")
    if not sid or raw not in TWILIO_STATUS:
        raise twilio.MalformedPayload(f"A status callback needs MessageSid and a known MessageStatus, not {raw!r}.")
    message = Message.objects.filter(
        account=event.account, provider_endpoint=str(event.endpoint.public_id), provider_id=sid
    ).first()
    if message is None:
        raise twilio.MalformedPayload(f"No message we sent has the sid {sid}.")
    code = payload.get("ErrorCode", "")
    reason = twilio.PERMANENT_ERRORS.get(int(code), f"Twilio error {code}") if code.isdigit() else ""
    message_set_delivery(
        account=event.account, message=message, status=TWILIO_STATUS[raw], error_code=code, error_message=reason
    )


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sweep_inbound_events() -> int:
    """Beat: enqueue events still pending after 30 s (their task was never queued, or was lost)."""
    stale = InboundEvent.objects.filter(
        status=EventStatus.PENDING, received_at__lt=timezone.now() - SWEEP_AFTER, attempts__lt=MAX_ATTEMPTS
    ).values_list("pk", flat=True)[:500]
    for event_id in stale:
        process_inbound_event.delay(event_id)
    return len(stale)


@shared_task(bind=True, acks_late=True, max_retries=5, time_limit=60, soft_time_limit=50)
def deliver_message(self, account_id: int, message_id: int) -> str:  # type: ignore[no-untyped-def]
    """Send a queued reply on its channel. Idempotent: a message with a provider id was already sent."""
    message = (
        Message.objects.select_related("account", "conversation", "contact")
        .filter(account_id=account_id, pk=message_id, direction="out", kind="message")
        .first()
    )
    if message is None or message.provider_id or message.delivery_status != DeliveryStatus.QUEUED:
        return "nothing to do"
    if message.channel not in ("sms", "whatsapp"):
        return f"no provider for {message.channel} yet"
    account = message.account

    def fail(code: str, reason: str) -> str:
        message_set_delivery(
            account=account, message=message, status=DeliveryStatus.FAILED, error_code=code, error_message=reason
        )
        return "failed"

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
        sid, status = twilio.send(endpoint, to=identity.value, body=message.body, channel=message.channel)
    except TwilioRestException as exc:
        retry, code, reason = twilio.failure(exc)
        if retry and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2 * 2**self.request.retries) from exc
        return fail(code, reason)
    except (TwilioException, requests.RequestException) as exc:  # the network: try again, then say so
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2 * 2**self.request.retries) from exc
        return fail("network", f"Could not reach Twilio after {self.max_retries + 1} tries ({type(exc).__name__}).")
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id), provider_id=sid)
    if TWILIO_STATUS.get(status, "queued") != DeliveryStatus.QUEUED:
        message_set_delivery(account=account, message=message, status=TWILIO_STATUS[status])
    return "sent"

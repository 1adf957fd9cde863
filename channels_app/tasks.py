"""Channel work's Celery tasks: turning stored inbound events into messages (queue `inbound`), delivering replies
(queue `outbound`), and the sweepers that catch events and replies whose task never ran (the broker was down when
they arrived). What each provider's events and replies become is in processing/, one module per provider."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import requests
from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from accounts.locks import advisory_session_try_lock
from accounts.tenant_db import db_retry, tenant_task
from inbox.models import DeliveryStatus, Message
from inbox.services import message_set_delivery

from .adapters import email, meta, twilio
from .models import EventStatus, InboundEvent
from .processing import NotYet, handlers

logger = logging.getLogger(__name__)


MAX_ATTEMPTS = 10


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=5, time_limit=120, soft_time_limit=100)
@db_retry
def process_inbound_event(self, event_id: int) -> str:  # type: ignore[no-untyped-def]
    event = InboundEvent.objects.select_related("endpoint", "endpoint__inbox", "account").filter(pk=event_id).first()
    if event is None or event.status == EventStatus.PROCESSED:
        return "nothing to do"
    InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    try:
        with transaction.atomic():
            handler = handlers()[0].get(event.kind)
            if handler is None:
                raise twilio.MalformedPayload(f"Unknown event kind {event.kind!r}.")
            handler(event)
            InboundEvent.objects.filter(pk=event.pk).update(
                status=EventStatus.PROCESSED, processed_at=timezone.now(), error=""
            )
    except (twilio.MalformedPayload, email.MalformedEmail, meta.MalformedEvent) as exc:
        InboundEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, error=str(exc)[:500])
        return "failed"
    except (NotYet, IntegrityError) as exc:
        # NotYet: e.g. a status callback before its message's sid is stored. IntegrityError: a row this event writes
        # was written meanwhile by another worker (a copy of the message that came another way): the next try
        # finds it. Either way, try again shortly.
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

    deliver = handlers()[1].get(message.channel)
    if deliver is None:
        return f"no provider for {message.channel} yet"
    return str(deliver(task, message, fail))


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def poll_mailboxes() -> dict[str, int]:
    """Beat: read what arrived in every connected IMAP mailbox."""
    from .mailboxes import poll_all

    return poll_all()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def sync_whatsapp_templates() -> dict[str, int]:
    """Beat: every Twilio WhatsApp sender's templates and their approval (approvals change on Meta's side)."""
    from .whatsapp_templates import sync_all

    return sync_all()


@shared_task(bind=True, acks_late=True, max_retries=5, time_limit=60, soft_time_limit=50)
def send_webchat_email(self, to: str, subject: str, body: str, reply_to: str = "") -> str:  # type: ignore[no-untyped-def]
    """A webchat visitor's code or transcript, through the server's email settings (retried while unreachable)."""
    from django.core.mail import EmailMessage

    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to], reply_to=[reply_to] if reply_to else None).send()
    except (OSError, smtplib.SMTPException) as exc:
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
    return "sent"


@shared_task(acks_late=True)
def sandbox_callback(endpoint_id: int, kind: str, fields: dict[str, str]) -> int:
    """The channel sandbox's carrier reporting back (a message sent and delivered, a call ended) through the
    signed webhook, as Twilio would a second later."""
    from . import sandbox

    return sandbox.callback(endpoint_id, kind, fields)

"""Messenger and Instagram events and replies: a person's message into their conversation (the contact joined by
their page-scoped id), read and delivery receipts onto our messages, and replies sent within Meta's windows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts import outbound
from accounts.errors import ServiceError
from contacts.models import ContactIdentity
from contacts.services import contact_resolve
from inbox.attachments import IncomingFile, attachment_check
from inbox.models import DeliveryStatus, Message, SenderType
from inbox.services import message_set_delivery, receive_message

from ..adapters import meta
from ..models import ChannelEndpoint, InboundEvent

logger = logging.getLogger(__name__)
FILE_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg", "file": ""}


def meta_event(event: InboundEvent) -> None:
    endpoint = event.endpoint
    if "event" not in event.payload:
        raise meta.MalformedEvent("Not a messaging event (the page's subscription sends other fields too).")
    found = meta.receipt(event.payload)
    if found is not None:
        _receipt(event, *found)
        return
    inbound = meta.parse(event.payload)
    if inbound is None or inbound.echo:  # our own reply echoed back, or nothing a person wrote
        return
    name = _name(endpoint, inbound.sender)
    try:
        contact = contact_resolve(account=event.account, kind=endpoint.kind, raw_address=inbound.sender, name=name)
    except ServiceError as exc:
        raise meta.MalformedEvent(f"The sender {inbound.sender!r} is not a Meta id we can use: {exc.message}") from None
    files, refused = [], []
    for n, (url, kind) in enumerate(inbound.attachments):
        filename = f"{kind}-{n + 1}"
        try:
            fetched = outbound.fetch(url, hosts=settings.META_MEDIA_HOSTS, max_bytes=settings.ATTACHMENT_MAX_BYTES)
        except outbound.OutboundRefused as exc:
            refused.append(f"{filename}: {exc.reason}")
            continue
        content_type = fetched.content_type or FILE_TYPES.get(kind, "")
        extension = (content_type.split("/")[-1].split(";")[0] or "bin")[:8]
        incoming = IncomingFile.from_bytes(f"{filename}.{extension}", fetched.content, content_type)
        try:
            attachment_check(incoming)
        except ServiceError as exc:
            refused.append(exc.message)
            continue
        files.append(incoming)
    metadata: dict[str, Any] = {"page": inbound.page}
    if refused:
        metadata["attachments_refused"] = refused
    if inbound.reply_to:
        metadata["reply_to"] = inbound.reply_to
    receive_message(
        account=event.account,
        inbox=endpoint.inbox,
        contact=contact,
        channel=endpoint.kind,
        body=inbound.text,
        provider_endpoint=str(endpoint.public_id),
        provider_id=inbound.mid,
        attachments=files,
        metadata=metadata,
        received_at=datetime.fromtimestamp(inbound.timestamp / 1000, tz=UTC) if inbound.timestamp else None,
    )


def _name(endpoint: ChannelEndpoint, person: str) -> str | None:
    """Meta's name for a new person (one Graph call, only for someone we do not know yet)."""
    if ContactIdentity.objects.filter(account_id=endpoint.account_id, kind=endpoint.kind, value=person).exists():
        return None
    return meta.profile_name(endpoint, person) or None


def _receipt(event: InboundEvent, kind: str, watermark: int, mid: str) -> None:
    """Read: every message we sent the person up to the watermark; delivery: the named messages."""
    person = str((event.payload["event"].get("sender") or {}).get("id", ""))
    ours = Message.objects.filter(
        account=event.account,
        provider_endpoint=str(event.endpoint.public_id),
        direction="out",
        contact__identities__kind=event.endpoint.kind,
        contact__identities__value=person,
    ).exclude(delivery_status__in=[DeliveryStatus.FAILED, DeliveryStatus.READ])
    if kind == "read" and watermark:
        ours = ours.filter(created_at__lte=datetime.fromtimestamp(watermark / 1000, tz=UTC))
    elif mid:
        ours = ours.filter(provider_id=mid)
    status = DeliveryStatus.READ if kind == "read" else DeliveryStatus.DELIVERED
    for message in ours.distinct()[:100]:
        message_set_delivery(account=event.account, message=message, status=status)


def deliver(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
    """A reply through the page (or Instagram account) the conversation came in on, within Meta's windows."""
    account, channel = message.account, message.channel
    endpoint = ChannelEndpoint.objects.filter(
        account=account, inbox_id=message.inbox_id, kind=channel, enabled=True
    ).first()
    if endpoint is None:
        return str(fail("no_endpoint", f"No {message.get_channel_display()} page is connected to this inbox."))
    identity = ContactIdentity.objects.filter(account=account, contact=message.contact, kind=channel).first()
    if identity is None:
        return str(fail("no_address", f"The customer has not written on {message.get_channel_display()}."))
    last_in = (
        Message.objects.filter(account=account, contact=message.contact, channel=channel, direction="in")
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    try:
        kind = meta.messaging_type(last_in, timezone.now(), by_person=message.sender_type == SenderType.USER)
        mid = meta.send(endpoint, to=identity.value, text=message.body, kind=kind)
    except meta.GraphFailed as exc:
        if exc.retry and task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=5 * 2**task.request.retries) from exc
        return str(fail(exc.code, exc.reason))
    Message.objects.filter(pk=message.pk).update(provider_endpoint=str(endpoint.public_id), provider_id=mid)
    message_set_delivery(account=account, message=message, status=DeliveryStatus.SENT)
    return "sent"

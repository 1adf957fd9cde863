"""Webchat replies: pushed to the visitor's widget over its socket."""

from __future__ import annotations

import logging

from contacts.models import ContactIdentity
from inbox import events
from inbox.models import DeliveryStatus, Message
from inbox.services import message_set_delivery

from .. import webchat
from ..models import ChannelEndpoint

logger = logging.getLogger(__name__)


def deliver(task, message: Message, fail) -> str:  # type: ignore[no-untyped-def]
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

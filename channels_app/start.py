"""Starting a conversation from our side: a team writes first to a customer by SMS, WhatsApp or email, to an existing
contact or to a new number or address (normalized, and joined to the contact who already has it)."""

from __future__ import annotations

from django.db import transaction

from accounts.errors import ServiceError
from accounts.models import Account, User
from contacts.models import Contact
from contacts.services import contact_resolve
from inbox.models import Channel, Conversation, HandledBy, Inbox, Message, Status
from inbox.selectors import whatsapp_window_open
from inbox.services import conversation_open, send_message

from .models import ChannelEndpoint, MessageTemplate
from .whatsapp_templates import template_send

START_CHANNELS = ("sms", "whatsapp", "email")
IDENTITY_KIND = {"sms": "phone", "whatsapp": "whatsapp", "email": "email"}


@transaction.atomic
def conversation_start(
    *,
    account: Account,
    actor: User,
    inbox: Inbox,
    channel: str,
    body: str,
    to: str = "",
    contact: Contact | None = None,
    subject: str = "",
    template: MessageTemplate | None = None,
    variables: dict[str, str] | None = None,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
) -> Message:
    """Write first to a customer on `channel` from `inbox`: their open conversation in that inbox continues, or a
    new one starts, owned by the person who wrote. Opt-outs are respected (the customer replied STOP: refused).
    On WhatsApp outside the customer's 24-hour window, only an approved `template` (with its `variables`) goes."""
    if inbox.account_id != account.pk or (contact is not None and contact.account_id != account.pk):
        raise ServiceError("That inbox or contact is not in this account.")
    if channel not in START_CHANNELS:
        raise ServiceError("Start a conversation by SMS, WhatsApp or email.", field="channel")
    label = Channel(channel).label
    if not ChannelEndpoint.objects.filter(account=account, inbox=inbox, kind=channel, enabled=True).exists():
        raise ServiceError(
            f"{inbox.name} has no {label} connected: connect one in the inbox's settings, or pick another inbox.",
            field="channel",
        )
    if template is not None and channel != "whatsapp":
        raise ServiceError("Templates are for WhatsApp; write the message instead.", field="template")
    if not body.strip() and template is None:
        raise ServiceError("Write the first message.", field="body")
    subject = " ".join(subject.split())[:300]
    if channel == "email" and not subject:
        raise ServiceError("An email needs a subject.", field="subject")
    if contact is None:
        if not to.strip():
            raise ServiceError("Give the customer's number or email address, or pick a contact.", field="to")
        try:
            contact = contact_resolve(account=account, kind=IDENTITY_KIND[channel], raw_address=to)
        except ServiceError as exc:
            raise ServiceError(exc.message, field="to") from None
    elif contact.merged_into_id is not None:
        contact = Contact.objects.get(account=account, pk=contact.merged_into_id)
    if channel == "whatsapp" and template is None and not whatsapp_window_open(account=account, contact_id=contact.pk):
        raise ServiceError(
            "WhatsApp lets a business write first only with an approved template, outside 24 hours of the "
            "customer's last WhatsApp message: pick one of the inbox's templates (or start by SMS or email).",
            field="template",
        )
    conversation = (
        Conversation.objects.filter(account=account, inbox=inbox, contact=contact, merged_into__isnull=True)
        .exclude(status=Status.RESOLVED)
        .order_by("-last_activity_at", "-id")
        .first()
    )
    if conversation is None:
        conversation = conversation_open(
            account=account,
            actor=actor,
            inbox=inbox,
            contact=contact,
            channel=channel,
            handled_by=HandledBy.HUMAN,
            activity=f"{actor.display_name} started this conversation by {label}",
        )
    if template is not None:
        return template_send(
            account=account, conversation=conversation, template=template, variables=variables or {}, user=actor
        )
    return send_message(
        account=account,
        conversation=conversation,
        body=body,
        channel=channel,
        sender_user=actor,
        metadata={"subject": subject} if channel == "email" else None,
        cc=cc or (),
        bcc=bcc or (),
    )

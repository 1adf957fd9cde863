"""Writes to the inbox core. `receive_message` and `send_message` are the only ways messages are created; every
change publishes its realtime event and sends its signal after commit."""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.errors import Conflict, ServiceError
from accounts.locks import advisory_xact_lock
from accounts.models import Account, Membership, Role, User
from accounts.realtime import access_changed
from accounts.services import audit_log_record
from contacts.addresses import normalize_email, normalize_phone
from contacts.models import Contact, ContactIdentity
from contacts.services import contact_touch

from . import events
from .attachments import IncomingFile, attachment_check
from .csat import digit_answer, survey_after_resolve
from .hours import business_hours_clean
from .models import (
    CUSTOMER_CHANNELS,
    Attachment,
    Channel,
    Conversation,
    ConversationCounter,
    ConversationRead,
    DeliveryStatus,
    Direction,
    HandledBy,
    Inbox,
    InboxMember,
    Kind,
    Message,
    NotificationKind,
    Priority,
    SenderType,
    Status,
)
from .notifications import mentioned, notify
from .routing import ai_answers, auto_assign, needs_owner
from .signals import message_queued, message_received

PREVIEW_LENGTH = 200

# --- Inboxes ------------------------------------------------------------------------------------------------

logger = logging.getLogger(__name__)


def _check_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise ServiceError(f"{name!r} is not an IANA time zone such as America/Chicago.", field="timezone")
    return name


@transaction.atomic
def inbox_create(
    *,
    account: Account,
    actor: User | None,
    name: str,
    purpose: str = "",
    timezone_name: str = "UTC",
    business_hours: dict[str, Any] | None = None,
    reopen_window_hours: int = 24,
    auto_assign: bool = True,
    assign_capacity: int = 0,
    csat_enabled: bool = False,
    email_signature: str = "",
) -> Inbox:
    name = name.strip()
    if not name:
        raise ServiceError("An inbox needs a name, such as Sales or Support.", field="name")
    if Inbox.objects.filter(account=account, name__iexact=name).exists():
        raise Conflict(f"There is already an inbox called {name}.", field="name")
    inbox = Inbox.objects.create(
        account=account,
        name=name,
        purpose=purpose,
        timezone=_check_timezone(timezone_name),
        business_hours=business_hours_clean(business_hours or {}),
        reopen_window_hours=reopen_window_hours,
        auto_assign=auto_assign,
        assign_capacity=assign_capacity,
        csat_enabled=csat_enabled,
        email_signature=email_signature.strip()[:2000],
    )
    audit_log_record(account=account, actor=actor, action="inbox.created", target=inbox, data={"name": name})
    access_changed(Membership.objects.filter(account=account, role=Role.ADMIN).values_list("user_id", flat=True))
    return inbox


@transaction.atomic
def inbox_update(*, account: Account, actor: User | None, inbox: Inbox, **changes: Any) -> Inbox:
    _same_account(account, inbox)
    if "name" in changes:
        name = changes["name"].strip()
        if not name:
            raise ServiceError("An inbox needs a name.", field="name")
        if Inbox.objects.filter(account=account, name__iexact=name).exclude(pk=inbox.pk).exists():
            raise Conflict(f"There is already an inbox called {name}.", field="name")
        changes["name"] = name
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    if "business_hours" in changes:
        changes["business_hours"] = business_hours_clean(changes["business_hours"] or {})
    for field, value in changes.items():
        setattr(inbox, field, value)
    if changes:
        inbox.save(update_fields=list(changes))
        audit_log_record(
            account=account, actor=actor, action="inbox.updated", target=inbox, data={"fields": sorted(changes)}
        )
    return inbox


@transaction.atomic
def inbox_delete(*, account: Account, actor: User | None, inbox: Inbox) -> None:
    _same_account(account, inbox)
    if Conversation.objects.filter(account=account, inbox=inbox).exists():
        raise Conflict("This inbox has conversations; move or keep them. Only an empty inbox can be deleted.")
    audit_log_record(account=account, actor=actor, action="inbox.deleted", target=inbox, data={"name": inbox.name})
    inbox.delete()


@transaction.atomic
def inbox_member_add(*, account: Account, actor: User | None, inbox: Inbox, user: User) -> InboxMember:
    _same_account(account, inbox)
    if not Membership.objects.filter(account=account, user=user).exists():
        raise ServiceError("Only members of the account can join its inboxes.", field="user")
    member, created = InboxMember.objects.get_or_create(account=account, inbox=inbox, user=user)
    if created:
        audit_log_record(
            account=account, actor=actor, action="inbox.member_added", target=inbox, data={"user": user.pk}
        )
        access_changed([user.pk])
    return member


@transaction.atomic
def inbox_member_remove(*, account: Account, actor: User | None, inbox: Inbox, user: User) -> None:
    _same_account(account, inbox)
    deleted, _ = InboxMember.objects.filter(account=account, inbox=inbox, user=user).delete()
    if deleted:
        audit_log_record(
            account=account, actor=actor, action="inbox.member_removed", target=inbox, data={"user": user.pk}
        )
        access_changed([user.pk])


def _same_account(account: Account, obj: Any) -> None:
    if obj.account_id != account.pk:
        raise ServiceError("That object is not in this account.")


# --- Conversations -------------------------------------------------------------------------------------------


_NEXT_NUMBER = (
    "UPDATE inbox_conversationcounter SET last_number = last_number + 1 WHERE account_id = %s RETURNING last_number"
)


def _next_number(account: Account) -> int:
    """The next conversation number of the account, in one round trip; the counter row's lock serializes
    concurrent openings. The account's first conversation creates the row."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER, [account.pk])
        row = cursor.fetchone()
    if row is not None:
        return int(row[0])
    ConversationCounter.objects.get_or_create(account=account)
    return _next_number(account)


def _conversation_for_inbound(
    account: Account, inbox: Inbox, contact: Contact, at: datetime
) -> tuple[Conversation, bool]:
    """The contact's open conversation in the inbox, or a recently resolved one (reopened), or a new one."""
    latest = (
        Conversation.objects.select_for_update()
        .filter(account=account, inbox=inbox, contact=contact, merged_into__isnull=True)
        .order_by("-last_activity_at", "-id")
        .first()
    )
    if latest is not None and latest.status != Status.RESOLVED:
        return latest, False
    window = timedelta(hours=inbox.reopen_window_hours)
    if latest is not None and latest.resolved_at is not None and at - latest.resolved_at <= window:
        latest.status = Status.LIVE
        latest.resolved_at = None
        return latest, False
    conversation = Conversation.objects.create(
        account=account,
        inbox=inbox,
        contact=contact,
        number=_next_number(account),
        status=Status.LIVE,
        # the AI agent owns it only when it answers now; otherwise it is the team's, in Unassigned
        handled_by=HandledBy.AI if ai_answers(inbox, at) else HandledBy.HUMAN,
        last_activity_at=at,
        created_at=at,
    )
    return conversation, True


@transaction.atomic
def conversation_open(
    *,
    account: Account,
    actor: User | None,
    inbox: Inbox,
    contact: Contact,
    channel: str,
    handled_by: str = HandledBy.HUMAN,
    status: str = Status.LIVE,
    activity: str = "",
) -> Conversation:
    """Start a conversation from our side (a team moving a customer to another inbox, an outbound follow-up).
    `activity` is written as its first line."""
    _same_account(account, inbox)
    _same_account(account, contact)
    if channel not in CUSTOMER_CHANNELS:
        raise ServiceError(f"Unknown channel {channel!r}.", field="channel")
    now = timezone.now()
    conversation = Conversation.objects.create(
        account=account,
        inbox=inbox,
        contact=contact,
        number=_next_number(account),
        status=status,
        handled_by=handled_by,
        active_channel=channel,
        last_activity_at=now,
        created_at=now,
    )
    if activity:
        created = _activity(account, conversation, activity, actor)
        events.publish(account.pk, inbox.pk, "message.created", _message_payload(created))
    events.publish(account.pk, inbox.pk, "conversation.updated", _conversation_payload(conversation))
    return conversation


def _store_attachments(account: Account, message: Message, files: Iterable[IncomingFile]) -> list[Attachment]:
    stored = []
    for incoming in files:
        content_type = attachment_check(incoming)
        attachment = Attachment(
            account=account,
            message=message,
            filename=incoming.filename[:255],
            content_type=content_type,
            size=incoming.size,
        )
        attachment.file.save(incoming.filename, incoming.file, save=False)
        attachment.save()
        stored.append(attachment)
    return stored


def _state(conversation: Conversation) -> dict[str, Any]:
    """The conversation's state, recorded on each message written to it."""
    return {
        "conversation_status": conversation.status,
        "conversation_handled_by": conversation.handled_by,
        "conversation_assignee_id": conversation.assignee_id,
    }


def _message_payload(message: Message) -> dict[str, Any]:
    return {
        "conversation_id": message.conversation_id,
        "message": {
            "id": message.pk,
            "contact_id": message.contact_id,
            "direction": message.direction,
            "kind": message.kind,
            "channel": message.channel,
            "sender_type": message.sender_type,
            "body": message.body,
            "delivery_status": message.delivery_status,
            "created_at": message.created_at.isoformat(),
        },
    }


def _conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation": {
            "id": conversation.pk,
            "number": conversation.number,
            "status": conversation.status,
            "handled_by": conversation.handled_by,
            "assignee_id": conversation.assignee_id,
            "priority": conversation.priority,
            "active_channel": conversation.active_channel,
            "last_activity_at": conversation.last_activity_at.isoformat(),
            "last_message_preview": conversation.last_message_preview,
            "snoozed_until": conversation.snoozed_until.isoformat() if conversation.snoozed_until else None,
        }
    }


def _after_commit_signal(signal: Any, account: Account, message: Message) -> None:
    """Tell the plugins once the message is committed. A plugin that fails here (the broker is down) never undoes
    nor fails the write: it is logged, and the sweepers pick the message up (queued replies, unread messages)."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=Message, account_id=account.pk, message_id=message.pk):
            if isinstance(result, Exception):
                logger.error("after-commit %s for message %s failed: %r", receiver.__name__, message.pk, result)

    transaction.on_commit(send)


def receive_message(
    *,
    account: Account,
    inbox: Inbox,
    contact: Contact,
    channel: str,
    body: str = "",
    provider_endpoint: str = "",
    provider_id: str = "",
    attachments: Iterable[IncomingFile] = (),
    metadata: dict[str, Any] | None = None,
    received_at: datetime | None = None,
    thread: Conversation | None = None,
) -> Message:
    """Store a customer's message on their conversation in `inbox` (found, reopened or started). `thread` is the
    conversation the message answers, when the channel says so (an email's In-Reply-To): used, and reopened if
    resolved, when it is this contact's conversation in this inbox.

    A provider id already stored for this endpoint returns the existing message: provider retries are no-ops.
    What is refused (another account's inbox, an unknown channel, a file too large or of a refused type) is refused
    before anything is written, so a caller may catch the ServiceError and go on.
    """
    _same_account(account, inbox)
    _same_account(account, contact)
    if channel not in CUSTOMER_CHANNELS:
        raise ServiceError(f"Unknown channel {channel!r}.", field="channel")
    files = list(attachments)
    for incoming in files:
        attachment_check(incoming)
    return _receive(
        account=account,
        inbox=inbox,
        contact=contact,
        channel=channel,
        body=body,
        provider_endpoint=provider_endpoint,
        provider_id=provider_id,
        attachments=files,
        metadata=metadata,
        received_at=received_at,
        thread=thread,
    )


# Nested in the inbound task's transaction, without a savepoint (SAVEPOINT and RELEASE are two round trips each,
# tests/channels_app/test_inbound_queries.py): what is refused was refused above, and a database error here ends the
# whole transaction, as every caller lets it.
@transaction.atomic(savepoint=False)
def _receive(
    *,
    account: Account,
    inbox: Inbox,
    contact: Contact,
    channel: str,
    body: str,
    provider_endpoint: str,
    provider_id: str,
    attachments: list[IncomingFile],
    metadata: dict[str, Any] | None,
    received_at: datetime | None,
    thread: Conversation | None,
) -> Message:
    if contact.merged_into_id is not None:
        contact = Contact.objects.get(account=account, pk=contact.merged_into_id)
    at = received_at or timezone.now()
    # One conversation per contact and inbox at a time, even when two messages arrive at once; and one message per
    # provider id: a provider's retry of this message (same sender, so same lock) looks after the first committed.
    advisory_xact_lock(f"inbound:{inbox.pk}:{contact.pk}")
    if provider_id:
        existing = Message.objects.filter(
            account=account, provider_endpoint=provider_endpoint, provider_id=provider_id
        ).first()
        if existing is not None:
            return existing
    if channel in (Channel.SMS, Channel.WHATSAPP) and not attachments:
        survey = digit_answer(contact.pk, inbox.pk, body, at)
        if survey is not None:  # "5 thanks!" answers the survey: kept on its conversation, which stays resolved
            return _store_rating(account, survey, contact, channel, body, provider_endpoint, provider_id, metadata, at)
    _created = False
    if thread is not None and thread.account_id == account.pk and thread.inbox_id == inbox.pk:
        conversation = Conversation.objects.select_for_update().get(pk=thread.pk)
        if conversation.contact_id != contact.pk:
            conversation, _created = _conversation_for_inbound(account, inbox, contact, at)
        elif conversation.status == Status.RESOLVED:
            conversation.status = Status.LIVE
            conversation.resolved_at = None
    else:
        conversation, _created = _conversation_for_inbound(account, inbox, contact, at)
    handover = ""
    if not _created and conversation.handled_by == HandledBy.AI and not ai_answers(inbox, at):
        # the AI was answering (after hours, or before it was switched off) and no longer is: the team's now
        conversation.handled_by = HandledBy.HUMAN
        handover = "The AI agent is not answering now: this conversation is the team's"
    if conversation.status == Status.WAITING:
        conversation.status = Status.LIVE  # the customer answered
    conversation.active_channel = channel
    conversation.last_activity_at = max(conversation.last_activity_at, at)
    conversation.last_inbound_at = at
    conversation.snoozed_until = None
    # No savepoint (two round trips): the lock above makes a concurrent copy of this provider message wait and then
    # find this one; a copy that came another way (another sender) ends the transaction on the unique constraint,
    # and the inbound task tries the event again, finding it stored.
    message = Message.objects.create(
        account=account,
        conversation=conversation,
        contact=contact,
        inbox_id=conversation.inbox_id,
        direction=Direction.IN,
        kind=Kind.MESSAGE,
        channel=channel,
        sender_type=SenderType.CONTACT,
        body=body,
        provider_endpoint=provider_endpoint,
        provider_id=provider_id,
        metadata=metadata or {},
        created_at=at,
        **_state(conversation),
    )
    stored = _store_attachments(account, message, attachments)
    conversation.last_message_preview = _preview(body, stored)
    conversation.save()
    contact_touch(account=account, contact=contact, at=at)
    if handover:
        events.publish(account.pk, inbox.pk, "message.created", _message_payload(
            _activity(account, conversation, handover, None)))  # fmt: skip
    in_hand = {"conversation": conversation, "contact": contact, "inbox": inbox}  # rendered from, not read again
    events.publish(
        account.pk, inbox.pk, "message.created", _message_payload(message),
        objects={**in_hand, "message": message, "attachments": stored},
    )  # fmt: skip
    assignee = auto_assign(account, conversation) if needs_owner(conversation) else None
    if assignee is not None:
        conversation.refresh_from_db()  # the assignment publishes itself; the row below shows it too
    events.publish(
        account.pk, inbox.pk, "conversation.updated", _conversation_payload(conversation),
        objects={**in_hand, "assignee": assignee},
    )  # fmt: skip
    _after_commit_signal(message_received, account, message)
    return message


def _store_rating(
    account: Account, survey: Any, contact: Contact, channel: str, body: str, provider_endpoint: str,
    provider_id: str, metadata: dict[str, Any] | None, at: datetime,
) -> Message:  # fmt: skip
    conversation = Conversation.objects.get(pk=survey.conversation_id)
    message = Message.objects.create(
        account=account, conversation=conversation, contact=contact, inbox_id=conversation.inbox_id,
        direction=Direction.IN, kind=Kind.MESSAGE, channel=channel, sender_type=SenderType.CONTACT, body=body,
        provider_endpoint=provider_endpoint, provider_id=provider_id,
        metadata={**(metadata or {}), "csat": survey.pk, "rating": survey.rating}, created_at=at,
        **_state(conversation),
    )  # fmt: skip
    activity = _activity(account, conversation, f"The customer rated this conversation {survey.rating}/5", None)
    events.publish(account.pk, conversation.inbox_id, "message.created", _message_payload(message))
    events.publish(account.pk, conversation.inbox_id, "message.created", _message_payload(activity))
    return message


def _preview(body: str, attachments: list[Attachment]) -> str:
    text = " ".join(body.split())
    if not text and attachments:
        text = f"[{attachments[0].filename}]"
    return text[:PREVIEW_LENGTH]


@transaction.atomic
def send_message(
    *,
    account: Account,
    conversation: Conversation,
    body: str,
    kind: str = Kind.MESSAGE,
    channel: str | None = None,
    sender_user: User | None = None,
    sender_type: str = SenderType.USER,
    attachments: Iterable[IncomingFile] = (),
    metadata: dict[str, Any] | None = None,
    cc: Iterable[str] = (),
    bcc: Iterable[str] = (),
) -> Message:
    """An outbound reply (queued for delivery on `channel`, default the conversation's active channel) or a
    private note (kind `note`: stays inside Continuum). `cc` and `bcc`: more recipients of an email."""
    _same_account(account, conversation)
    attachments = list(attachments)
    if kind not in (Kind.MESSAGE, Kind.NOTE):
        raise ServiceError("Send a message or a note; activity lines are written by the system.", field="kind")
    if not body.strip() and not attachments:
        raise ServiceError("Write something or attach a file.", field="body")
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    # A person answering the customer takes the conversation: the AI must not talk over them.
    takes_over = kind == Kind.MESSAGE and sender_type == SenderType.USER and sender_user is not None
    if takes_over and sender_user is not None and conversation.handled_by == HandledBy.AI:
        conversation = conversation_take_over(account=account, actor=sender_user, conversation=conversation)
    elif takes_over and sender_user is not None and conversation.assignee_id is None:
        # answering an unowned conversation makes it yours (it leaves Unassigned)
        conversation.assignee = sender_user
        conversation = _changed(
            account, conversation, sender_user, f"{_who(sender_user)} took this by replying", ["assignee"]
        )
    if kind == Kind.NOTE:
        channel = Channel.INTERNAL
    else:
        channel = channel or conversation.active_channel
        if channel not in CUSTOMER_CHANNELS:
            raise ServiceError(f"Choose a channel to reply on: {', '.join(CUSTOMER_CHANNELS)}.", field="channel")
        if channel == Channel.VOICE and not (metadata or {}).get("call"):
            raise ServiceError(
                "A written reply cannot go by phone: reply by SMS, WhatsApp, email or webchat, or use Call.",
                field="channel",
            )
        if kind == Kind.MESSAGE and sender_type == SenderType.USER:
            _check_deliverable(account, conversation, channel, body)
    copies = _copies(channel, cc, bcc)
    if copies:
        metadata = {**(metadata or {}), **copies}
    now = timezone.now()
    fields = ["last_activity_at"]
    conversation.last_activity_at = now
    answered = conversation.status == Status.LIVE or (
        conversation.status == Status.ESCALATED and sender_type == SenderType.USER  # the person owed it
    )
    if kind == Kind.MESSAGE and answered:
        conversation.status = Status.WAITING  # answered: now waiting on the customer
        fields.append("status")
    message = Message.objects.create(
        account=account,
        conversation=conversation,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        direction=Direction.OUT,
        kind=kind,
        channel=channel,
        sender_type=sender_type,
        sender_user=sender_user,
        body=body,
        delivery_status=DeliveryStatus.QUEUED if kind == Kind.MESSAGE else "",
        metadata=metadata or {},
        created_at=now,
        **_state(conversation),
    )
    stored = _store_attachments(account, message, attachments)
    if kind == Kind.MESSAGE:
        conversation.last_message_preview = _preview(body, stored)
        fields.append("last_message_preview")
    conversation.save(update_fields=fields)
    events.publish(account.pk, conversation.inbox_id, "message.created", _message_payload(message))
    events.publish(account.pk, conversation.inbox_id, "conversation.updated", _conversation_payload(conversation))
    if kind == Kind.MESSAGE:
        _after_commit_signal(message_queued, account, message)
    if kind == Kind.NOTE and sender_user is not None:
        who = mentioned(account, conversation.inbox_id, body)
        if who:
            notify(
                account=account, user_ids=who, kind=NotificationKind.MENTION, conversation=conversation,
                text=f"{sender_user.display_name} mentioned you on #{conversation.number}: {_preview(body, [])}",
                exclude=sender_user.pk,
            )  # fmt: skip
    return message


COPIES_MAX = 20


def _copies(channel: str, cc: Iterable[str], bcc: Iterable[str]) -> dict[str, list[str]]:
    """An email's Cc and Bcc, each address normalized; refused (naming the field) off email or when not an address."""
    copies: dict[str, list[str]] = {}
    for field, given in (("cc", cc), ("bcc", bcc)):
        addresses = [part for a in given for part in re.split(r"[\s,;]+", str(a)) if part]  # a typed list too
        if not addresses:
            continue
        if channel != Channel.EMAIL:
            raise ServiceError("Cc and Bcc are for email; choose email to send copies.", field=field)
        if len(addresses) > COPIES_MAX:
            raise ServiceError(f"At most {COPIES_MAX} addresses in {field.title()}.", field=field)
        normalized = []
        for address in addresses:
            try:
                normalized.append(normalize_email(address))
            except ServiceError as exc:
                raise ServiceError(exc.message, field=field) from None
        copies[field] = list(dict.fromkeys(normalized))
    return copies


# The most a reply may hold on each channel: carriers cap an SMS (and Twilio a WhatsApp body) at 1,600
# characters; a webchat reply is capped like a visitor's message.
BODY_LIMITS: dict[str, int] = {
    Channel.SMS: 1600, Channel.WHATSAPP: 1600, Channel.WEBCHAT: 5000, Channel.EMAIL: 100_000,
    Channel.MESSENGER: 2000, Channel.INSTAGRAM: 1000,  # Meta's limits for a text message
}  # fmt: skip
# The address a reply on each channel goes to.
CHANNEL_ADDRESS: dict[str, str] = {
    Channel.SMS: "phone",
    Channel.WHATSAPP: "whatsapp",
    Channel.EMAIL: "email",
    Channel.WEBCHAT: "webchat",
    Channel.MESSENGER: "messenger",
    Channel.INSTAGRAM: "instagram",
}
_ADDRESS_WORDS = {"phone": "phone number", "whatsapp": "WhatsApp number", "email": "email address",
                  "webchat": "webchat session", "messenger": "Messenger conversation",
                  "instagram": "Instagram conversation"}  # fmt: skip


def _check_deliverable(account: Account, conversation: Conversation, channel: str, body: str) -> None:
    """Refuse up front what could only fail later: a body longer than the channel carries, a channel the contact
    has no address on, or one they opted out of."""
    limit = BODY_LIMITS.get(str(channel))
    if limit is not None and len(body) > limit:
        label = Channel(channel).label
        raise ServiceError(
            f"{label} replies hold at most {limit:,} characters; this one has {len(body):,}. Shorten it or "
            "reply by email.",
            field="body",
        )
    needs = CHANNEL_ADDRESS.get(str(channel))
    if needs is None:
        return
    addresses = list(
        ContactIdentity.objects.filter(account=account, contact_id=conversation.contact_id, kind=needs).values_list(
            "opted_out_at", flat=True
        )
    )
    if addresses and not all(opted_out is not None for opted_out in addresses):
        return
    who = conversation.contact.name or "This customer"
    if not addresses:
        raise ServiceError(
            f"{who} has no {_ADDRESS_WORDS[needs]}: reply on a channel they use, or add it on their contact.",
            field="channel",
        )
    if all(opted_out is not None for opted_out in addresses):
        raise ServiceError(
            f"{who} opted out of {Channel(channel).label} (STOP): nothing is sent until they reply START.",
            field="channel",
        )


@transaction.atomic
def message_resend(*, account: Account, actor: User, message: Message) -> Message:
    """Send a failed reply again: the same message goes back to the queue (its error cleared, a fresh delivery
    attempt), with an activity line saying who resent it."""
    _same_account(account, message)
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.direction != Direction.OUT or message.kind != Kind.MESSAGE:
        raise ServiceError("Only a reply to the customer can be resent.", field="message")
    if message.delivery_status != DeliveryStatus.FAILED:
        raise Conflict(f"This reply is {message.delivery_status or 'not sent'}: only a failed one is resent.",
                       field="message")  # fmt: skip
    conversation = Conversation.objects.select_related("contact").get(pk=message.conversation_id)
    _check_deliverable(account, conversation, message.channel, message.body)
    metadata = {k: v for k, v in message.metadata.items() if k != "send_attempt"}
    metadata["resent"] = int(metadata.get("resent", 0)) + 1
    Message.objects.filter(pk=message.pk).update(
        delivery_status=DeliveryStatus.QUEUED, error_code="", error_message="", provider_id="", provider_endpoint="",
        metadata=metadata, updated_at=timezone.now(),
    )  # fmt: skip
    message.refresh_from_db()
    activity = _activity(account, conversation, f"{_who(actor)} resent a reply that had failed", actor)
    events.publish(account.pk, message.inbox_id, "message.created", _message_payload(activity))
    events.publish(account.pk, message.inbox_id, "message.updated", _message_payload(message))
    _after_commit_signal(message_queued, account, message)
    return message


def call_start(*, account: Account, actor: User, conversation: Conversation, agent_phone: str) -> Message:
    """Call the customer back: the call is an outbound voice message on the conversation. Delivering it rings
    `agent_phone`, then connects them to the customer; its status follows the call."""
    _same_account(account, conversation)
    try:
        agent_phone = normalize_phone(agent_phone, region=account.default_region)
    except ServiceError as exc:
        raise ServiceError(f"Your phone: {exc.message}", field="agent_phone") from None
    phone = ContactIdentity.objects.filter(account=account, contact_id=conversation.contact_id, kind="phone").first()
    if phone is None:
        raise ServiceError("The customer has no phone number to call; add one on their contact.", field="contact")
    return send_message(
        account=account,
        conversation=conversation,
        body=f"Call to {phone.value}, started by {actor.display_name}.",
        channel=Channel.VOICE,
        sender_user=actor,
        metadata={"call": "outbound", "agent_phone": agent_phone, "to": phone.value},
    )


def message_attach(*, account: Account, message: Message, files: Iterable[IncomingFile]) -> list[Attachment]:
    """Add files to a stored message (a call's recording arriving after the call) and show them live."""
    _same_account(account, message)
    stored = _store_attachments(account, message, files)
    events.publish(account.pk, message.inbox_id, "message.updated", _message_payload(message))
    return stored


@transaction.atomic
def message_set_delivery(
    *, account: Account, message: Message, status: str, error_code: str = "", error_message: str = ""
) -> Message:
    """Record a delivery status from the provider. Never moves backwards (a late "sent" after "delivered")."""
    _same_account(account, message)
    order: list[str] = [DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    message = Message.objects.select_for_update().get(pk=message.pk)
    if status not in DeliveryStatus.values:
        raise ServiceError(f"Unknown delivery status {status!r}.", field="status")
    current = message.delivery_status
    if current in order and status in order and order.index(status) <= order.index(current):
        return message
    message.delivery_status = status
    message.error_code = error_code[:32]
    message.error_message = error_message[:500]
    message.save(update_fields=["delivery_status", "error_code", "error_message", "updated_at"])
    events.publish(account.pk, message.conversation.inbox_id, "message.updated", _message_payload(message))
    return message


def _activity(account: Account, conversation: Conversation, text: str, actor: User | None) -> Message:
    return Message.objects.create(
        account=account,
        conversation=conversation,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        direction=Direction.OUT,
        kind=Kind.ACTIVITY,
        channel=Channel.INTERNAL,
        sender_type=SenderType.USER if actor is not None else SenderType.SYSTEM,
        sender_user=actor,
        body=text,
        **_state(conversation),
    )


def _changed(
    account: Account, conversation: Conversation, actor: User | None, text: str, fields: list[str]
) -> Conversation:
    conversation.save(update_fields=fields)
    activity = _activity(account, conversation, text, actor)
    events.publish(account.pk, conversation.inbox_id, "message.created", _message_payload(activity))
    events.publish(account.pk, conversation.inbox_id, "conversation.updated", _conversation_payload(conversation))
    return conversation


@transaction.atomic
def conversation_note_activity(*, account: Account, conversation: Conversation, text: str) -> Message:
    """A system line on the conversation (a playbook step, an automation), without changing its state."""
    _same_account(account, conversation)
    activity = _activity(account, conversation, text, None)
    events.publish(account.pk, conversation.inbox_id, "message.created", _message_payload(activity))
    return activity


def _who(actor: User | None) -> str:
    return actor.display_name if actor is not None else "System"


def _lock(account: Account, conversation: Conversation) -> Conversation:
    _same_account(account, conversation)
    return Conversation.objects.select_related("assignee").select_for_update(of=("self",)).get(pk=conversation.pk)


def _assignable(account: Account, conversation: Conversation, user: User) -> None:
    membership = Membership.objects.filter(account=account, user=user).first()
    if membership is None:
        raise ServiceError("Assign to a member of this account.", field="assignee")
    if not membership.is_admin and not InboxMember.objects.filter(inbox_id=conversation.inbox_id, user=user).exists():
        raise ServiceError(
            f"{user.display_name} is not a member of this inbox; add them to it first.", field="assignee"
        )


@transaction.atomic
def conversation_assign(
    *, account: Account, actor: User | None, conversation: Conversation, assignee: User
) -> Conversation:
    conversation = _lock(account, conversation)
    _assignable(account, conversation, assignee)
    if conversation.assignee_id == assignee.pk:
        return conversation
    conversation.assignee = assignee
    text = f"{_who(actor)} assigned this to {assignee.display_name}"
    changed = _changed(account, conversation, actor, text, ["assignee"])
    by = f" by {actor.display_name}" if actor is not None else ""
    notify(
        account=account, user_ids=[assignee.pk], kind=NotificationKind.ASSIGNMENT, conversation=conversation,
        text=f"#{conversation.number} in {conversation.inbox.name} was assigned to you{by}.",
        exclude=actor.pk if actor is not None else None,
    )  # fmt: skip
    return changed


@transaction.atomic
def conversation_unassign(*, account: Account, actor: User | None, conversation: Conversation) -> Conversation:
    conversation = _lock(account, conversation)
    if conversation.assignee_id is None:
        return conversation
    previous = conversation.assignee
    conversation.assignee = None
    text = f"{_who(actor)} unassigned {previous.display_name if previous else 'the owner'}"
    return _changed(account, conversation, actor, text, ["assignee"])


@transaction.atomic
def conversation_set_status(
    *, account: Account, actor: User | None, conversation: Conversation, status: str
) -> Conversation:
    if status not in Status.values:
        raise ServiceError(f"Status must be one of: {', '.join(Status.values)}.", field="status")
    conversation = _lock(account, conversation)
    if conversation.status == status:
        return conversation
    conversation.status = status
    conversation.resolved_at = timezone.now() if status == Status.RESOLVED else None
    conversation.snoozed_until = None
    text = f"{_who(actor)} changed the status to {Status(status).label.lower()}"
    changed = _changed(account, conversation, actor, text, ["status", "resolved_at", "snoozed_until"])
    if status == Status.RESOLVED:
        survey_after_resolve(account, changed, actor)  # the inbox asks: "how did we do?"
    return changed


@transaction.atomic
def conversation_snooze(
    *, account: Account, actor: User | None, conversation: Conversation, until: datetime | None
) -> Conversation:
    """Hide the conversation from the working folders until `until` (None wakes it now). A customer's message
    wakes it too."""
    if until is not None and until <= timezone.now():
        raise ServiceError("Snooze until a time in the future.", field="until")
    conversation = _lock(account, conversation)
    conversation.snoozed_until = until
    # in the time zone of whoever snoozed it (the console activates theirs), named
    text = (
        f"{_who(actor)} snoozed this until {timezone.localtime(until):%a %d %b %H:%M %Z}"
        if until
        else (f"{_who(actor)} woke this up")
    )
    return _changed(account, conversation, actor, text, ["snoozed_until"])


def snoozes_wake(now: datetime | None = None) -> int:
    """Every conversation whose snooze ended comes back: the snooze is cleared with an activity line, its consoles
    are told, the assignee is notified, and an unowned one is handed out. Returns how many woke."""
    now = now or timezone.now()
    due = list(
        Conversation.objects.filter(snoozed_until__lte=now, merged_into__isnull=True)
        .order_by("snoozed_until", "id")
        .values_list("account_id", "pk")[:500]
    )
    for account_id, conversation_id in due:
        _wake(account_id, conversation_id, now)
    return len(due)


@transaction.atomic
def _wake(account_id: int, conversation_id: int, now: datetime) -> None:
    conversation = (
        Conversation.objects.select_related("account", "inbox", "assignee")
        .select_for_update(of=("self",))
        .filter(pk=conversation_id, snoozed_until__lte=now)
        .first()
    )
    if conversation is None:  # woken meanwhile (a customer wrote, a person woke it)
        return
    account = conversation.account
    conversation.snoozed_until = None
    _changed(account, conversation, None, "Snooze ended: back in the folders", ["snoozed_until"])
    if conversation.assignee is not None:
        notify(
            account=account, user_ids=[conversation.assignee.pk], kind=NotificationKind.SNOOZE,
            conversation=conversation,
            text=f"#{conversation.number} in {conversation.inbox.name} woke from its snooze.",
        )  # fmt: skip
    elif needs_owner(conversation, now):
        auto_assign(account, conversation)


@transaction.atomic
def conversation_take_over(*, account: Account, actor: User, conversation: Conversation) -> Conversation:
    """A person takes the conversation from the AI agent (and owns it, unless someone already does)."""
    conversation = _lock(account, conversation)
    if conversation.handled_by == HandledBy.HUMAN and conversation.assignee_id is not None:
        return conversation
    conversation.handled_by = HandledBy.HUMAN
    if conversation.assignee_id is None:
        conversation.assignee = actor
    return _changed(
        account, conversation, actor, f"{_who(actor)} took over from the AI agent", ["handled_by", "assignee"]
    )


@transaction.atomic
def conversation_hand_to_human(
    *, account: Account, conversation: Conversation, assignee: User | None, text: str
) -> Conversation:
    """The AI agent gives the conversation to the team (to `assignee`, or unassigned), saying so in `text`."""
    conversation = _lock(account, conversation)
    conversation.handled_by = HandledBy.HUMAN
    if assignee is not None:
        conversation.assignee = assignee
    # The AI's handover words are not an answer: a person owes the customer the next reply, so the conversation is
    # escalated (not "waiting on the customer", which playbooks would nudge or resolve) until a person writes.
    if conversation.status in {Status.LIVE, Status.WAITING}:
        conversation.status = Status.ESCALATED
    return _changed(account, conversation, None, text, ["handled_by", "assignee", "status"])


@transaction.atomic
def conversation_hand_back(*, account: Account, actor: User | None, conversation: Conversation) -> Conversation:
    """Give the conversation back to the AI agent."""
    conversation = _lock(account, conversation)
    if conversation.handled_by == HandledBy.AI:
        return conversation
    conversation.handled_by = HandledBy.AI
    return _changed(account, conversation, actor, f"{_who(actor)} handed this back to the AI agent", ["handled_by"])


@transaction.atomic
def conversation_set_priority(
    *, account: Account, actor: User | None, conversation: Conversation, priority: int
) -> Conversation:
    if priority not in Priority.values:
        raise ServiceError("Priority must be 0 (none) to 4 (urgent).", field="priority")
    conversation = _lock(account, conversation)
    if conversation.priority == priority:
        return conversation
    conversation.priority = priority
    text = f"{_who(actor)} set the priority to {Priority(priority).label.lower()}"
    return _changed(account, conversation, actor, text, ["priority"])


def conversation_mark_read(*, account: Account, user: User, conversation: Conversation) -> None:
    """Record that `user` has read the conversation up to now (one upsert)."""
    _same_account(account, conversation)
    ConversationRead.objects.bulk_create(  # one INSERT ... ON CONFLICT DO UPDATE
        [ConversationRead(account=account, user=user, conversation=conversation, read_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["user", "conversation"],
        update_fields=["read_at"],
    )


# --- Merging contacts: their open conversations of one inbox become one ----------------------------------------

_FOLD_FIELDS = (
    "status",
    "handled_by",
    "assignee_id",
    "priority",
    "active_channel",
    "last_activity_at",
    "last_inbound_at",
    "last_message_preview",
    "resolved_at",
    "merged_into_id",
)


_FOLD_TIMES = frozenset(name for name in _FOLD_FIELDS if name.endswith("_at"))


def _snapshot(conversation: Conversation) -> dict[str, Any]:
    """The folded fields as JSON (kept in the merge's audit record)."""
    snapshot = {name: getattr(conversation, name) for name in _FOLD_FIELDS}
    return {name: value.isoformat() if name in _FOLD_TIMES and value else value for name, value in snapshot.items()}


def _restore(conversation: Conversation, snapshot: dict[str, Any]) -> None:
    for name, value in snapshot.items():
        setattr(conversation, name, datetime.fromisoformat(value) if name in _FOLD_TIMES and value else value)
    conversation.save(update_fields=[name.removesuffix("_id") for name in snapshot])


def conversations_fold(account: Account, contact: Contact, actor: User | None = None) -> dict[str, Any]:
    """A merge step (contacts.services): the contact's open conversations of one inbox become one. The oldest
    continues and its thread shows both; the others point to it. A person's ownership and an assignee are kept
    (the continuing one keeps its own, else takes the other's). Returns what changed, for the undo."""
    open_ones = list(
        Conversation.objects.select_for_update()
        .filter(account=account, contact=contact, merged_into__isnull=True)
        .exclude(status=Status.RESOLVED)
        .order_by("inbox_id", "created_at", "id")
    )
    folds: list[dict[str, Any]] = []
    by_inbox: dict[int, list[Conversation]] = {}
    for conversation in open_ones:
        by_inbox.setdefault(conversation.inbox_id, []).append(conversation)
    now = timezone.now()
    for conversations in by_inbox.values():
        if len(conversations) < 2:
            continue
        older, *newer = conversations
        before = _snapshot(older)
        folded = []
        for other in newer:
            message_ids = list(Message.objects.filter(conversation=other).values_list("pk", flat=True))
            Message.objects.filter(pk__in=message_ids).update(conversation=older)
            folded.append({"conversation": other.pk, "messages": message_ids, "before": _snapshot(other)})
            if older.assignee_id is None and other.assignee_id is not None:
                older.assignee_id = other.assignee_id
            if other.handled_by == HandledBy.HUMAN:
                older.handled_by = HandledBy.HUMAN
            older.priority = max(older.priority, other.priority)
            if other.last_activity_at > older.last_activity_at:
                older.last_activity_at = other.last_activity_at
                older.active_channel = other.active_channel
                older.last_message_preview = other.last_message_preview
            if other.last_inbound_at and (
                older.last_inbound_at is None or other.last_inbound_at > older.last_inbound_at
            ):
                older.last_inbound_at = other.last_inbound_at
            other.merged_into_id = older.pk
            other.status, other.resolved_at = Status.RESOLVED, now
            other.save(update_fields=["merged_into", "status", "resolved_at"])
            events.publish(account.pk, other.inbox_id, "conversation.updated", _conversation_payload(other))
        numbers = ", ".join(f"#{c.number}" for c in newer)
        older.save(update_fields=[name.removesuffix("_id") for name in _FOLD_FIELDS])
        activity = _activity(account, older, f"Contacts merged: {numbers} continues here.", None)
        events.publish(account.pk, older.inbox_id, "message.created", _message_payload(activity))
        events.publish(account.pk, older.inbox_id, "conversation.updated", _conversation_payload(older))
        folds.append({"into": older.pk, "before": before, "folded": folded, "activity": activity.pk})
    return {"folds": folds}


def conversations_unfold(account: Account, record: dict[str, Any]) -> None:
    """Undo `conversations_fold`: messages go back to their conversations, and both conversations are as before
    the merge (what was written in the continuing conversation since stays there)."""
    for fold in reversed(record.get("folds", [])):
        older = Conversation.objects.select_for_update().filter(account=account, pk=fold["into"]).first()
        if older is None:
            continue
        Message.objects.filter(account=account, pk=fold["activity"]).delete()
        for item in fold["folded"]:
            other = Conversation.objects.select_for_update().filter(account=account, pk=item["conversation"]).first()
            if other is None:
                continue
            Message.objects.filter(account=account, pk__in=item["messages"], conversation=older).update(
                conversation=other
            )
            _restore(other, item["before"])
            events.publish(account.pk, other.inbox_id, "conversation.updated", _conversation_payload(other))
        _restore(older, fold["before"])
        events.publish(account.pk, older.inbox_id, "conversation.updated", _conversation_payload(older))

"""Demo inboxes and conversations for the seeded demo account: the Shared Memory story in miniature."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, User
from channels_app.sandbox import sandbox_enable
from contacts.services import contact_merge, contact_resolve
from inbox.models import Conversation, Inbox
from inbox.services import (
    conversation_assign,
    conversation_set_status,
    conversation_take_over,
    inbox_create,
    inbox_member_add,
    receive_message,
    send_message,
)
from memory.services import fact_definition_create, fact_record_ai, handoff_record, note_write, sentiment_record

# The demo lives in the top layer: it fills every app through its services.
DEMO_ENGINE = "demo/1"

WEEKDAYS = {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@transaction.atomic
def seed_demo_inbox(*, account: Account, admin: User, agents: list[User]) -> None:
    """Create Sales, Support and Billing with a few conversations, once (nothing happens if inboxes exist)."""
    if Inbox.objects.filter(account=account).exists():
        return
    dana, sam = agents[0], agents[1]
    support = inbox_create(
        account=account,
        actor=admin,
        name="Support",
        purpose="Leaks, repairs and visits",
        timezone_name="America/Chicago",
        business_hours=WEEKDAYS,
    )
    sales = inbox_create(
        account=account,
        actor=admin,
        name="Sales",
        purpose="Quotes and new installs",
        timezone_name="America/Chicago",
        business_hours=WEEKDAYS,
    )
    billing = inbox_create(
        account=account,
        actor=admin,
        name="Billing",
        purpose="Invoices and payments",
        timezone_name="America/Chicago",
        business_hours=WEEKDAYS,
    )
    for inbox, members in ((support, [dana, sam]), (sales, [dana]), (billing, [sam])):
        for user in members:
            inbox_member_add(account=account, actor=admin, inbox=inbox, user=user)
    # SMS, WhatsApp, voice and email for Support through the channel sandbox: replies are delivered to the
    # simulator page (/a/<id>/sandbox/), never to the internet
    sandbox_enable(account=account, actor=admin, inbox=support)

    now = timezone.now()
    maria_chat = contact_resolve(account=account, kind="webchat", raw_address="visitor-maria-7f3a", name="Maria Lopez")
    receive_message(
        account=account,
        inbox=support,
        contact=maria_chat,
        channel="webchat",
        body="Hi, water is leaking under my kitchen sink. Is anyone there tonight?",
        received_at=now - timedelta(hours=14),
    )
    maria = contact_resolve(account=account, kind="phone", raw_address="(312) 555-0142", name="Maria Lopez")

    contact_merge(account=account, actor=admin, keep=maria, drop=maria_chat)
    first = receive_message(
        account=account,
        inbox=support,
        contact=maria,
        channel="sms",
        body="Texting about the leak from last night - it got worse this morning.",
        received_at=now - timedelta(hours=2),
    )
    seed_demo_memory(account=account, conversation=first.conversation, handed_to=dana)
    conversation_take_over(account=account, actor=dana, conversation=first.conversation)
    send_message(
        account=account,
        conversation=first.conversation,
        sender_user=dana,
        body="Hi Maria, this is Dana. A technician can come at 11:00 today - does that work?",
    )
    send_message(
        account=account,
        conversation=first.conversation,
        sender_user=dana,
        kind="note",
        body="Shut-off valve is under the sink; she already turned it off.",
    )

    ben = contact_resolve(account=account, kind="email", raw_address="ben.carter@example.com", name="Ben Carter")
    receive_message(
        account=account,
        inbox=sales,
        contact=ben,
        channel="email",
        body="Could you quote a tankless water heater install for a 3-bedroom house?",
        received_at=now - timedelta(minutes=40),
    )

    priya = contact_resolve(account=account, kind="whatsapp", raw_address="+1 773 555 0199", name="Priya Shah")
    invoice = receive_message(
        account=account,
        inbox=billing,
        contact=priya,
        channel="whatsapp",
        body="I think I was charged twice on invoice INV-20931.",
        received_at=now - timedelta(hours=5),
    )
    conversation_assign(account=account, actor=admin, conversation=invoice.conversation, assignee=sam)
    conversation_set_status(account=account, actor=sam, conversation=invoice.conversation, status="escalated")

    # Wrote on WhatsApp two days ago and heard nothing: WhatsApp now takes only an approved template from us.
    tom = contact_resolve(account=account, kind="whatsapp", raw_address="+1 312 555 0175", name="Tom Becker")
    receive_message(
        account=account,
        inbox=support,
        contact=tom,
        channel="whatsapp",
        body="Is the replacement cartridge for my shower mixer in stock yet?",
        received_at=now - timedelta(days=2),
    )

    resolved = receive_message(
        account=account,
        inbox=support,
        contact=ben,
        channel="email",
        body="Thanks, the faucet works perfectly now.",
        received_at=now - timedelta(days=3),
    )
    Conversation.objects.filter(pk=resolved.conversation_id).update(
        status="resolved", resolved_at=now - timedelta(days=3)
    )


def seed_demo_memory(*, account: Account, conversation: Conversation, handed_to: User) -> None:
    """What the AI agent would have written overnight for Maria: readings, facts, a note and a handoff."""

    fact_definition_create(
        account=account,
        actor=None,
        inbox=conversation.inbox,
        key="address",
        label="Service address",
        description="Where the technician goes",
        required_before_handoff=True,
    )
    messages = list(conversation.messages.filter(direction="in", kind="message").order_by("created_at"))
    for message, score in zip(messages, (-0.45, -0.72), strict=False):
        sentiment_record(account=account, message=message, score=score, engine=DEMO_ENGINE)
    for key, value in (("name", "Maria Lopez"), ("address", "2210 W Grand Ave, Chicago")):
        fact_record_ai(
            account=account,
            contact=conversation.contact,
            inbox=conversation.inbox,
            key=key,
            value=value,
            confidence=0.8,
            engine=DEMO_ENGINE,
            conversation=conversation,
            source_message=messages[0],
        )
    note_write(
        account=account,
        conversation=conversation,
        engine=DEMO_ENGINE,
        need="Water leaking under the kitchen sink; getting worse",
        status="Valve shut off; waiting for a visit",
        next_step="Book a technician this morning",
        open_questions=["Is the cabinet floor damaged?"],
        source_message_ids=[m.pk for m in messages],
    )
    handoff_record(
        account=account,
        conversation=conversation,
        reason="Urgent repair: the customer needs a visit booked",
        from_party="AI agent",
        engine=DEMO_ENGINE,
        to_user=handed_to,
        what_was_done={
            "questions_asked": ["Where is the leak?", "Can you reach the shut-off valve?"],
            "facts_collected": ["name", "address"],
            "replies_sent": 1,
        },
        missing=[],
        suggested_next_step="Offer the 11:00 slot",
        suggested_channel="sms",
    )


def seed_demo_team_tools(*, account: Account) -> None:
    """Labels on a few conversations, canned responses, and satisfaction surveys in Support (idempotent)."""
    from inbox.models import CannedResponse, ConversationLabel, CsatSurvey, Label

    labels = {
        name: Label.objects.get_or_create(account=account, name=name, defaults={"colour": colour})[0]
        for name, colour in (("VIP", "#b45309"), ("Refund", "#dc2626"), ("Lead", "#16a34a"))
    }
    canned = {
        "hours": "Hi {{contact.first_name}}, we're open Monday to Friday, 8:00 to 18:00. — {{agent.first_name}}",
        "thanks": "Thanks {{contact.first_name}}! Anything else, just reply here. — {{agent.name}}, {{inbox.name}}",
    }
    for shortcut, body in canned.items():
        CannedResponse.objects.get_or_create(account=account, inbox=None, shortcut=shortcut, defaults={"body": body})
    support = Inbox.objects.filter(account=account, name="Support").first()
    if support is not None and not support.csat_enabled:
        Inbox.objects.filter(pk=support.pk).update(csat_enabled=True)
    conversations = list(Conversation.objects.filter(account=account).order_by("id")[:4])
    for conversation, name in zip(conversations, ("VIP", "Lead", "Refund", "VIP"), strict=False):
        ConversationLabel.objects.get_or_create(account=account, conversation=conversation, label=labels[name])
    resolved = Conversation.objects.filter(account=account, status="resolved").order_by("id").first()
    if resolved is not None and not CsatSurvey.objects.filter(conversation=resolved).exists():
        CsatSurvey.objects.create(
            account=account, conversation=resolved, inbox_id=resolved.inbox_id, contact_id=resolved.contact_id,
            assignee_id=resolved.assignee_id, channel=resolved.active_channel or "email",
            token=secrets.token_urlsafe(24), rating=5, comment="Fixed the same day, thank you!",
            rated_at=resolved.resolved_at or timezone.now(),
        )  # fmt: skip

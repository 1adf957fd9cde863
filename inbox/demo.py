"""Demo inboxes and conversations for the seeded demo account: the Shared Memory story in miniature."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, User
from contacts.services import contact_resolve

from .models import Conversation, Inbox
from .services import (
    conversation_assign,
    conversation_set_status,
    conversation_take_over,
    inbox_create,
    inbox_member_add,
    receive_message,
    send_message,
)

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
    from contacts.services import contact_merge

    contact_merge(account=account, actor=admin, keep=maria, drop=maria_chat)
    first = receive_message(
        account=account,
        inbox=support,
        contact=maria,
        channel="sms",
        body="Texting about the leak from last night - it got worse this morning.",
        received_at=now - timedelta(hours=2),
    )
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

"""The demo account: created once, with the cross-channel story in it; running the command again changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import Account, Membership
from contacts.models import Contact
from inbox.models import Conversation, Inbox, Message

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_tells_the_story() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    counts = (
        Account.objects.count(),
        Membership.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    )
    call_command("seed_demo", stdout=io.StringIO())
    assert counts == (
        Account.objects.count(),
        Membership.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    )
    assert "admin@demo.continuum.test" in out.getvalue() and "continuum-demo" in out.getvalue()
    assert sorted(Inbox.objects.values_list("name", flat=True)) == ["Billing", "Sales", "Support"]
    maria = Contact.objects.get(name="Maria Lopez", merged_into__isnull=True)
    assert sorted(maria.identities.values_list("kind", flat=True)) == ["phone", "webchat"]
    channels = set(Message.objects.filter(contact=maria, kind="message").values_list("channel", flat=True))
    assert channels == {"webchat", "sms"}


def test_demo_shows_shared_memory_in_support_only() -> None:
    from memory.selectors import recall

    call_command("seed_demo", stdout=io.StringIO())
    maria = Contact.objects.get(name="Maria Lopez", merged_into__isnull=True)
    account = maria.account
    support = recall(account=account, contact=maria, inbox=Inbox.objects.get(name="Support"))
    assert support.fact_values["address"] == "2210 W Grand Ave, Chicago"
    assert support.notes and support.handoffs and support.sentiment.label == "negative"
    sales = recall(account=account, contact=maria, inbox=Inbox.objects.get(name="Sales"))
    assert sales.notes == {} and sales.handoffs == [] and "address" not in sales.fact_values

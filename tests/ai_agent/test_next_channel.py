"""The next best channel, with its reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ai_agent.next_channel import next_best_channel
from contacts.models import ContactIdentity
from contacts.services import identity_add
from inbox.attachments import IncomingFile
from inbox.services import conversation_set_priority
from memory.selectors import recall
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def suggest(tenant: Tenant, message: Any, at: Any = None) -> tuple[str, str]:
    memory = recall(account=tenant.account, contact=message.contact, inbox=message.inbox)
    suggestion = next_best_channel(memory, now=at or timezone.now())
    return suggestion.channel, suggestion.reason


def test_follow_up_on_the_active_channel(tenant: Tenant) -> None:
    message = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550101010", "is it ready?")
    assert suggest(tenant, message) == ("sms", "The customer is writing on SMS: follow up there")


def test_api(tenant: Tenant) -> None:
    message = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550101010", "is it ready?")
    url = f"/api/v1/accounts/{tenant.account.pk}/conversations/{message.conversation_id}/next-channel"
    assert tenant.client().get(url).json() == {
        "channel": "sms",
        "reason": "The customer is writing on SMS: follow up there",
    }
    assert tenant.client("agent").get(url).status_code == 404  # not a member of that inbox


def test_call_when_urgent_and_a_phone_is_known(tenant: Tenant) -> None:
    message = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550101010", "flooding!")
    conversation_set_priority(account=tenant.account, actor=None, conversation=message.conversation, priority=4)
    assert suggest(tenant, message)[0] == "voice"


def test_email_when_detail_or_attachments_matter(tenant: Tenant, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    message = inbound(
        tenant.account,
        InboxFactory(account=tenant.account),
        "+15550101010",
        "photos attached",
        attachments=[IncomingFile.from_bytes("damage.jpg", b"\xff\xd8jpg", "image/jpeg")],
    )
    identity_add(account=tenant.account, actor=None, contact=message.contact, kind="email", raw_value="a@b.co")
    assert suggest(tenant, message)[0] == "email"


def test_never_whatsapp_outside_24_hours_nor_an_opted_out_channel(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    message = inbound(
        tenant.account,
        inbox,
        "+15550101010",
        "hi",
        kind="whatsapp",
        channel="whatsapp",
        received_at=timezone.now() - timedelta(hours=30),
    )
    channel, reason = suggest(tenant, message)
    assert channel == "whatsapp" and "only an approved template reaches them" in reason  # the only way left
    identity_add(account=tenant.account, actor=None, contact=message.contact, kind="phone", raw_value="+15550101010")
    ContactIdentity.objects.filter(kind="phone").update(opted_out_at=timezone.now())
    channel, reason = suggest(tenant, message)
    assert channel == "whatsapp" and reason.endswith("(phone opted out)")
    ContactIdentity.objects.filter(kind="whatsapp").update(opted_out_at=timezone.now())
    channel, reason = suggest(tenant, message)
    assert channel == "" and reason.startswith("No way to reach the customer outside this chat")
    ContactIdentity.objects.filter(kind="whatsapp").update(opted_out_at=None)
    fresh = inbound(tenant.account, inbox, "+15550101010", "still there?", kind="whatsapp", channel="whatsapp")
    assert suggest(tenant, fresh) == (
        "whatsapp",
        "The customer is writing on WhatsApp: follow up there (phone opted out)",
    )

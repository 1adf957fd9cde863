"""Writing email from the console and the API: Cc and Bcc on replies and new emails, and signatures (the writer's
own, then the inbox's with its placeholders filled), delivered through the real email path."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from accounts.models import Membership
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from channels_app.tasks import deliver_message
from inbox.models import Inbox, Message
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(tenant: Tenant, settings: Any) -> ChannelEndpoint:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbox = InboxFactory(account=tenant.account, name="Billing")
    return ChannelEndpoint.objects.create(
        account=tenant.account, inbox=inbox, kind="email", provider="mime", address="billing@shop.example.com",
        credentials_encrypted=credentials_encrypt({"webhook_secret": "s" * 32}),
    )  # fmt: skip


def reply(tenant: Tenant, conversation_id: int, **body: Any) -> Any:
    return tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/conversations/{conversation_id}/messages", body, format="json"
    )


def test_a_reply_goes_with_cc_bcc_and_both_signatures(tenant: Tenant, mailbox: ChannelEndpoint) -> None:
    Inbox.objects.filter(pk=mailbox.inbox_id).update(
        email_signature="{agent_first_name} at {business_name}, {inbox_name}\nhttps://shop.example.com"
    )
    Membership.objects.filter(account=tenant.account, user=tenant.admin).update(email_signature="Direct: 555-0100")
    first = inbound(tenant.account, mailbox.inbox, "maria@example.org", "Invoice?", kind="email", channel="email")
    copies = {"cc": ["Accounts@Example.org", "bo@example.org, bo@example.org"], "bcc": ["audit@shop.example.com"]}
    sent = reply(tenant, first.conversation_id, body="Attached is the invoice.", channel="email", **copies)
    assert sent.status_code == 201, sent.json()
    assert sent.json()["email"]["cc"] == ["Accounts@example.org", "bo@example.org"]
    assert deliver_message.run(tenant.account.pk, sent.json()["id"]) == "sent"
    [email] = mail.outbox
    assert email.to == ["maria@example.org"] and email.cc == ["Accounts@example.org", "bo@example.org"]
    assert email.bcc == ["audit@shop.example.com"]
    assert "audit@shop.example.com" not in email.message().as_string()  # Bcc is no header
    first_name = tenant.admin.display_name.split()[0]
    assert email.body == (
        f"Attached is the invoice.\n\n-- \nDirect: 555-0100\n\n{first_name} at {tenant.account.name}, Billing\n"
        "https://shop.example.com"
    )
    assert Message.objects.get(pk=sent.json()["id"]).body == "Attached is the invoice."  # the thread keeps the words


def test_copies_are_refused_off_email_or_when_not_an_address(tenant: Tenant, mailbox: ChannelEndpoint) -> None:
    first = inbound(tenant.account, mailbox.inbox, "maria@example.org", "Invoice?", kind="email", channel="email")
    bad = reply(tenant, first.conversation_id, body="Hi", channel="email", cc=["not an address"])
    assert bad.status_code == 400 and "cc" in bad.json()["error"]["fields"]
    too_many = reply(
        tenant, first.conversation_id, body="Hi", channel="email", bcc=[f"a{n}@x.example.com" for n in range(21)]
    )
    assert too_many.status_code == 400 and "bcc" in too_many.json()["error"]["fields"]
    sms = inbound(tenant.account, mailbox.inbox, "+13125550100", "Text me")
    off_email = reply(tenant, sms.conversation_id, body="Hi", channel="sms", cc=["ana@example.com"])
    assert off_email.status_code == 400 and "email" in off_email.json()["error"]["fields"]["cc"][0]


def test_a_new_email_goes_with_its_copies(tenant: Tenant, mailbox: ChannelEndpoint) -> None:
    started = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/conversation-starts",
        {"inbox": mailbox.inbox_id, "channel": "email", "to": "maria@example.org", "subject": "Your order",
         "body": "It shipped today.", "cc": ["partner@example.org"]},
        format="json",
    )  # fmt: skip
    assert started.status_code == 201, started.json()
    assert deliver_message.run(tenant.account.pk, started.json()["message"]) == "sent"
    assert mail.outbox[0].cc == ["partner@example.org"] and mail.outbox[0].subject == "Your order"

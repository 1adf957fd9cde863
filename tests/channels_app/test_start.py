"""A team writes first (channels_app/start.py, POST .../conversation-starts): to a new number or address
(normalized, joined to whoever has it) or a contact, in a chosen inbox, on SMS, WhatsApp (inside its window) or
email; opt-outs respected; it continues like any conversation and is delivered through the real paths."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from channels_app.tasks import deliver_message
from contacts.models import Contact, ContactIdentity
from inbox.models import Conversation, InboxMember, Message
from tests.conftest import Tenant, make_tenant
from tests.factories import InboxFactory, inbound
from tests.fakes.twilio_server import FakeTwilio

pytestmark = pytest.mark.django_db


def start(tenant: Tenant, who: str = "admin", **body: Any) -> Any:
    return tenant.client(who).post(f"/api/v1/accounts/{tenant.account.pk}/conversation-starts", body, format="json")


def test_an_sms_to_a_new_number_starts_a_conversation_that_is_delivered(
    tenant: Tenant, sms: ChannelEndpoint, twilio: FakeTwilio
) -> None:
    answer = start(tenant, inbox=sms.inbox_id, channel="sms", to="(312) 555-0199", body="Your parts arrived.")
    assert answer.status_code == 201, answer.json()
    started = answer.json()
    contact = Contact.objects.get(pk=started["contact"])
    assert ContactIdentity.objects.get(contact=contact).value == "+13125550199"  # normalized
    conversation = Conversation.objects.get(pk=started["conversation"])
    assert conversation.inbox_id == sms.inbox_id and conversation.assignee_id == tenant.admin.pk
    lines = list(conversation.messages.order_by("id").values_list("kind", "body"))
    assert lines[0][0] == "activity" and "started this conversation by SMS" in lines[0][1]
    assert lines[-1] == ("message", "Your parts arrived.")
    assert deliver_message.run(tenant.account.pk, started["message"]) == "sent"
    assert twilio.sent[0]["To"] == "+13125550199" and twilio.sent[0]["From"] == sms.address

    # the same customer written to again (another format): the same contact, the same open conversation
    again = start(tenant, inbox=sms.inbox_id, channel="sms", to="+1 312 555 0199", body="Also, the invoice.")
    assert again.status_code == 201
    assert (again.json()["contact"], again.json()["conversation"]) == (contact.pk, conversation.pk)
    # and when they answer, it lands in that conversation
    reply = inbound(tenant.account, sms.inbox, "+13125550199", "Thanks!")
    assert reply.conversation_id == conversation.pk


def test_refusals_name_the_field(tenant: Tenant, sms: ChannelEndpoint) -> None:
    base: dict[str, Any] = {"inbox": sms.inbox_id, "channel": "sms", "to": "+13125550177", "body": "Hello"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"to": "not a number"}, "to"),
        ({"to": ""}, "to"),
        ({"body": ""}, "body"),
        ({"channel": "email", "to": "a@example.com", "subject": "Hi"}, "channel"),  # no email address connected
        ({"channel": "voice"}, "channel"),
        ({"inbox": 999999}, "inbox"),
        ({"contact": 999999, "to": ""}, "contact"),
    ]
    for change, field in cases:
        answer = start(tenant, **{**base, **change})
        assert answer.status_code == 400, (change, answer.json())
        assert field in answer.json()["error"]["fields"], (change, answer.json())
    assert not Message.objects.filter(kind="message").exists()


def test_an_opted_out_customer_is_not_texted(tenant: Tenant, sms: ChannelEndpoint) -> None:
    inbound(tenant.account, sms.inbox, "+13125550177", "STOP")
    ContactIdentity.objects.filter(value="+13125550177").update(opted_out_at=timezone.now())
    answer = start(tenant, inbox=sms.inbox_id, channel="sms", to="+13125550177", body="A sale!")
    assert answer.status_code == 400 and "STOP" in answer.json()["error"]["fields"]["channel"][0]


def test_whatsapp_is_started_only_inside_its_window(tenant: Tenant, sms: ChannelEndpoint) -> None:
    whatsapp = ChannelEndpoint.objects.create(
        account=tenant.account, inbox=sms.inbox, kind="whatsapp", address="+13125550101",
        credentials_encrypted=credentials_encrypt({"account_sid": "AC" + "a" * 32, "auth_token": "x"}),
    )  # fmt: skip
    closed = start(tenant, inbox=whatsapp.inbox_id, channel="whatsapp", to="+13125550166", body="Hi")
    assert closed.status_code == 400 and "approved template" in closed.json()["error"]["fields"]["template"][0]
    inbound(tenant.account, sms.inbox, "+13125550166", "hola", kind="whatsapp", channel="whatsapp")
    open_window = start(tenant, inbox=whatsapp.inbox_id, channel="whatsapp", to="+13125550166", body="Hi")
    assert open_window.status_code == 201


def test_an_email_needs_a_subject_and_goes_out_with_it(tenant: Tenant, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbox = InboxFactory(account=tenant.account, name="Billing")
    ChannelEndpoint.objects.create(
        account=tenant.account, inbox=inbox, kind="email", provider="mime", address="billing@northwind.test",
        credentials_encrypted=credentials_encrypt({"webhook_secret": "s" * 32}),
    )  # fmt: skip
    no_subject = start(tenant, inbox=inbox.pk, channel="email", to="Maria@Example.org", body="Your invoice")
    assert no_subject.status_code == 400 and "subject" in no_subject.json()["error"]["fields"]
    answer = start(tenant, inbox=inbox.pk, channel="email", to="Maria@Example.org", body="Attached.",
                   subject="Your November invoice")  # fmt: skip
    assert answer.status_code == 201
    assert (
        ContactIdentity.objects.get(contact_id=answer.json()["contact"]).value == "Maria@example.org"
    )  # domain folded
    assert deliver_message.run(tenant.account.pk, answer.json()["message"]) == "sent"
    [sent] = mail.outbox
    assert sent.subject == "Your November invoice" and sent.to == ["Maria@example.org"]


def test_an_agent_starts_only_from_their_inboxes_and_to_their_account(tenant: Tenant, sms: ChannelEndpoint) -> None:
    refused = start(tenant, "agent", inbox=sms.inbox_id, channel="sms", to="+13125550155", body="Hi")
    assert refused.status_code == 400 and "inbox" in refused.json()["error"]["fields"]
    InboxMember.objects.create(account=tenant.account, inbox=sms.inbox, user=tenant.agent)
    other = make_tenant("Other")
    theirs = inbound(other.account, InboxFactory(account=other.account), "+13125550144", "hi").contact
    foreign = start(tenant, "agent", inbox=sms.inbox_id, channel="sms", contact=theirs.pk, body="Hi")
    assert foreign.status_code == 400 and "contact" in foreign.json()["error"]["fields"]
    mine = start(tenant, "agent", inbox=sms.inbox_id, channel="sms", to="+13125550155", body="Hi")
    assert mine.status_code == 201
    assert Conversation.objects.get(pk=mine.json()["conversation"]).assignee_id == tenant.agent.pk


def test_the_console_page_offers_the_inboxes_that_can_write(tenant: Tenant, sms: ChannelEndpoint, client: Any) -> None:
    client.force_login(tenant.admin)
    page = client.get(f"/a/{tenant.account.pk}/conversations/new").content.decode()
    assert "<strong>Support</strong>: SMS" in page and 'name="to"' in page
    contact = inbound(tenant.account, sms.inbox, "+13125550133", "hi", name="Omar").contact
    page = client.get(f"/a/{tenant.account.pk}/conversations/new?contact={contact.pk}").content.decode()
    assert "Omar" in page and f'name="contact" value="{contact.pk}"' in page
    # an agent is offered only their own inboxes; another account's contact id names nobody
    client.force_login(tenant.agent)
    page = client.get(f"/a/{tenant.account.pk}/conversations/new").content.decode()
    assert "None of your inboxes" in page and "<strong>Support</strong>" not in page
    other = make_tenant("Elsewhere")
    theirs = inbound(other.account, InboxFactory(account=other.account), "+13125550122", "hi", name="Zed").contact
    client.force_login(tenant.admin)
    page = client.get(f"/a/{tenant.account.pk}/conversations/new?contact={theirs.pk}").content.decode()
    assert "Zed" not in page and 'name="to"' in page

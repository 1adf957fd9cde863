"""The channel sandbox: the customer's side is signed like the provider's and goes through the real webhook views;
the product's replies go through the real Twilio SDK (and the email path) to a simulated carrier and mail server,
never to the internet; the carrier reports delivery through the signed status webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from channels_app import sandbox
from channels_app.models import ChannelEndpoint, InboundEvent, SandboxMessage
from contacts.models import ContactIdentity
from inbox.models import Conversation, Message
from inbox.services import send_message
from tests.conftest import Tenant
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(tenant: Tenant) -> Any:
    return InboxFactory(account=tenant.account, name="Support", auto_assign=False)


def test_one_customer_on_four_channels_is_one_contact_and_gets_every_reply(
    tenant: Tenant, support: Any, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    endpoints = sandbox.sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=support)
    assert set(endpoints) == {"sms", "whatsapp", "voice", "email"}
    assert all(sandbox.is_sandbox(e) for e in endpoints.values())
    assert sandbox.sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=support) == endpoints  # once

    phone = "+13125550142"
    with django_capture_on_commit_callbacks(execute=True):
        sandbox.customer_send(account=tenant.account, channel="sms", address="(312) 555-0142", body="My sink leaks",
                              name="Maria Lopez")  # fmt: skip
    message = Message.objects.get(body="My sink leaks")
    assert message.channel == "sms" and message.direction == "in"
    event = InboundEvent.objects.get(endpoint=endpoints["sms"])
    assert event.kind == "messaging" and event.status == "processed"  # through the real, signed webhook
    conversation = message.conversation
    contact = message.contact

    # the agent answers on SMS: the real Twilio SDK sends it to the simulated carrier, which reports delivery
    with django_capture_on_commit_callbacks(execute=True):
        reply = send_message(account=tenant.account, conversation=conversation, body="A plumber comes at 11",
                             sender_user=tenant.agent, channel="sms")  # fmt: skip
    reply.refresh_from_db()
    assert reply.delivery_status == "delivered" and reply.provider_id.startswith("SM")
    received = SandboxMessage.objects.get(direction="out", channel="sms")
    assert (received.customer, received.body, received.provider_id) == (
        phone,
        "A plumber comes at 11",
        reply.provider_id,
    )

    # WhatsApp and a call from the same number: the same contact, the same conversation
    with django_capture_on_commit_callbacks(execute=True):
        sandbox.customer_send(
            account=tenant.account, channel="whatsapp", address=phone, body="Photo later", name="Maria"
        )
        sandbox.customer_send(account=tenant.account, channel="voice", address=phone, body="Please call me back")
    said = Message.objects.get(channel="voice", direction="in", body__contains="call me back")
    assert said.contact_id == contact.pk and "Please call me back" in said.body
    assert Message.objects.get(channel="whatsapp", direction="in").contact_id == contact.pk
    with django_capture_on_commit_callbacks(execute=True):
        wa = send_message(account=tenant.account, conversation=conversation, body="Got it", sender_user=tenant.agent,
                          channel="whatsapp")  # fmt: skip
    wa.refresh_from_db()
    assert wa.delivery_status == "delivered"
    assert SandboxMessage.objects.filter(direction="out", channel="whatsapp", customer=phone, body="Got it").exists()

    # email: a person adds her address; her email threads into the conversation and the reply reaches the sandbox
    ContactIdentity.objects.create(account=tenant.account, contact=contact, kind="email", value="maria@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        mailed = send_message(account=tenant.account, conversation=conversation, body="Your invoice is attached soon",
                              sender_user=tenant.agent, channel="email")  # fmt: skip
    mailed.refresh_from_db()
    out = SandboxMessage.objects.get(direction="out", channel="email")
    assert out.customer == "maria@example.com" and "Your invoice" in out.body and mailed.delivery_status != "failed"
    with django_capture_on_commit_callbacks(execute=True):
        sandbox.customer_send(account=tenant.account, channel="email", address="maria@example.com",
                              body="Thanks, see you at 11", name="Maria Lopez")  # fmt: skip
    answer = Message.objects.get(channel="email", direction="in")
    assert answer.conversation_id == conversation.pk and "see you at 11" in answer.body  # threaded
    assert Conversation.objects.filter(account=tenant.account).count() == 1
    assert [m.channel for m in sandbox.transcript(account=tenant.account, customer=phone)] == [
        "sms", "sms", "whatsapp", "voice", "whatsapp",
    ]  # fmt: skip


def test_a_forged_customer_message_is_refused_by_the_same_check(tenant: Tenant, support: Any) -> None:
    endpoints = sandbox.sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=support)
    endpoint = endpoints["sms"]
    endpoint.credentials_encrypted = sandbox.credentials_encrypt({"account_sid": "ACx", "auth_token": "other"})
    # a webhook signed with a token the endpoint does not have: the real view refuses it
    from django.test import Client

    response = Client().post(f"/webhooks/twilio/{endpoint.public_id}/messaging", {"From": "+13125550142", "Body": "x"},
                             HTTP_X_TWILIO_SIGNATURE="forged")  # fmt: skip
    assert response.status_code == 403


def test_the_api_sets_up_the_sandbox_for_admins_and_lets_members_play_the_customer(
    tenant: Tenant, support: Any
) -> None:
    from inbox.services import inbox_member_add

    inbox_member_add(account=tenant.account, actor=None, inbox=support, user=tenant.agent)  # the sandbox's team
    base = f"/api/v1/accounts/{tenant.account.pk}/sandbox/"
    assert tenant.client("agent").post(base, {"inbox": support.pk}, format="json").status_code == 403
    assert tenant.client("agent").get(base).json() == {"enabled": False, "endpoints": {}}
    created = tenant.client("admin").post(base, {"inbox": support.pk}, format="json")
    assert created.status_code == 201 and set(created.json()["endpoints"]) == {"sms", "whatsapp", "voice", "email"}
    bad = tenant.client("agent").post(f"{base}messages/", {"channel": "sms", "address": "hello", "body": "hi"},
                                      format="json")  # fmt: skip
    assert bad.status_code == 400 and "not a phone number" in bad.json()["error"]["fields"]["address"][0]
    sent = tenant.client("agent").post(f"{base}messages/", {"channel": "sms", "address": "+13125550142", "body": "hi"},
                                       format="json")  # fmt: skip
    assert sent.status_code == 201 and sent.json()["direction"] == "in"
    listed = tenant.client("agent").get(f"{base}messages/", {"customer": "+1 312 555 0142"}).json()
    assert [m["body"] for m in listed] == ["hi"]


def test_production_endpoints_never_use_the_carrier(tenant: Tenant, support: Any) -> None:
    from channels_app.adapters import twilio

    real = ChannelEndpoint.objects.create(account=tenant.account, inbox=support, kind="sms", address="+13125550999",
                                          credentials_encrypted=sandbox.credentials_encrypt(
                                              {"account_sid": "AC1", "auth_token": "t"}))  # fmt: skip
    assert not isinstance(twilio.client_for(real).http_client, sandbox.CarrierHttpClient)

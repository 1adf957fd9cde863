"""WhatsApp templates through Twilio's Content API (the official SDK against the fake on 127.0.0.1): synced per
sender with their variables and approval, filled from Shared Memory, sent when the 24-hour window is closed, and
their delivery errors shown in words."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint, MessageTemplate
from channels_app.tasks import deliver_message, sync_whatsapp_templates
from contacts.models import ContactIdentity
from inbox.models import InboxMember, Message
from memory.services import fact_definition_create, fact_set
from tests.channels_app.test_twilio import SID, TOKEN, post, run_pending
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from tests.fakes.twilio_server import FakeTwilio

pytestmark = pytest.mark.django_db
CUSTOMER = "+13125550166"


def content(sid: str, name: str, body: str, status: str = "approved", **extra: Any) -> dict[str, Any]:
    """One item of GET /v1/ContentAndApprovals as Twilio answers it."""
    return {
        "sid": sid, "account_sid": SID, "friendly_name": name, "language": "en",
        "variables": {"1": "Maria", "2": "1042"}, "types": {"twilio/text": {"body": body}},
        "approval_requests": {"name": name, "category": "UTILITY", "status": status,
                              "rejection_reason": extra.get("reason", ""), "content_type": "twilio/text"},
        "date_created": "2026-11-01T10:00:00Z", "date_updated": "2026-11-02T10:00:00Z", "url": None, "links": {},
    }  # fmt: skip


ORDER_READY = content("HX" + "1" * 32, "order_ready", "Hi {{1}}, your order {{2}} is ready for pickup.")


@pytest.fixture
def whatsapp(tenant: Tenant, twilio: FakeTwilio, settings: Any) -> ChannelEndpoint:
    settings.TWILIO_API_BASE_URL = twilio.url
    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    twilio.templates = [
        ORDER_READY,
        content("HX" + "2" * 32, "winter_sale", "{{1}}, our sale starts Friday!", "rejected", reason="Promotional"),
        content("HX" + "3" * 32, "pending_one", "Hello {{1}}", "pending"),
    ]
    return ChannelEndpoint.objects.create(
        account=tenant.account, inbox=InboxFactory(account=tenant.account, name="Orders"), kind="whatsapp",
        address="+13125550101", credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
    )  # fmt: skip


def api(tenant: Tenant, path: str = "") -> str:
    return f"/api/v1/accounts/{tenant.account.pk}/whatsapp-templates{path}"


def closed_conversation(tenant: Tenant, endpoint: ChannelEndpoint) -> Message:
    """Maria wrote on WhatsApp two days ago: her window is closed."""
    message = inbound(tenant.account, endpoint.inbox, CUSTOMER, "Is my order in?", kind="whatsapp", channel="whatsapp")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=2))
    contact = message.contact
    contact.name = "Maria Lopez"
    contact.save(update_fields=["name"])
    return message


def synced(tenant: Tenant, endpoint: ChannelEndpoint) -> MessageTemplate:
    answer = tenant.client("admin").post(api(tenant, "/sync"), {"inbox": endpoint.inbox_id}, format="json")
    assert answer.status_code == 200, answer.json()
    return MessageTemplate.objects.get(endpoint=endpoint, name="order_ready")


def test_templates_sync_per_sender_with_variables_and_approval(
    tenant: Tenant, whatsapp: ChannelEndpoint, twilio: FakeTwilio
) -> None:
    twilio.templates += [content(f"HX{n:032d}", f"bulk_{n:03d}", "Note {{1}}") for n in range(150)]
    answer = tenant.client("admin").post(api(tenant, "/sync"), {"inbox": whatsapp.inbox_id}, format="json")
    assert answer.json() == {"added": 153, "updated": 0, "removed": 0}
    assert twilio.template_pages == 2  # every page read (100 a page)
    listed = tenant.client("admin").get(api(tenant, f"?inbox={whatsapp.inbox_id}")).json()
    assert listed["results"][0]["name"] == "bulk_000" and listed["next"]  # by name, paged
    order = tenant.client("admin").get(api(tenant, f"/{MessageTemplate.objects.get(name='order_ready').pk}")).json()
    assert order["variables"] == ["1", "2"] and order["status"] == "approved" and order["sender"] == "+13125550101"
    sale = MessageTemplate.objects.get(name="winter_sale")
    assert (sale.status, sale.rejection_reason) == ("rejected", "Promotional")

    # approval changes on Meta's side and a template is deleted: the beat task picks both up
    twilio.templates = [ORDER_READY, content("HX" + "3" * 32, "pending_one", "Hello {{1}}", "approved")]
    assert sync_whatsapp_templates.run() == {"senders": 1, "failed": 0}
    assert MessageTemplate.objects.get(name="pending_one").status == "approved"
    assert MessageTemplate.objects.get(name="winter_sale").removed_at is not None  # kept, marked gone
    approved = tenant.client("admin").get(api(tenant, "?status=approved")).json()["results"]
    assert sorted(t["name"] for t in approved) == ["order_ready", "pending_one"]  # the bulk ones are gone too


def test_a_template_goes_out_after_the_window_filled_from_memory(
    tenant: Tenant, whatsapp: ChannelEndpoint, twilio: FakeTwilio
) -> None:
    first = closed_conversation(tenant, whatsapp)
    template = synced(tenant, whatsapp)
    fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=whatsapp.inbox, key="order_number",
                           label="Order number")  # fmt: skip
    fact_set(account=tenant.account, actor=tenant.admin, contact=first.contact, inbox=whatsapp.inbox,
             key="order_number", value="A-5521")  # fmt: skip
    admin = tenant.client("admin")
    sources = {"sources": {"1": "contact.first_name", "2": "fact:order_number"}}
    assert admin.patch(api(tenant, f"/{template.pk}"), sources, format="json").status_code == 200

    listed = admin.get(api(tenant, f"?conversation={first.conversation_id}&status=approved"))
    closes = Message.objects.get(pk=first.pk).created_at + timedelta(hours=24)
    assert listed["X-WhatsApp-Window-Closes"] == closes.isoformat()
    [offered] = [t for t in listed.json()["results"] if t["id"] == template.pk]
    assert offered["values"] == {"1": "Maria", "2": "A-5521"}

    # free text cannot go now (WhatsApp would refuse it: 63016); the template can
    send = {"conversation": first.conversation_id, "variables": offered["values"]}
    sent = admin.post(api(tenant, f"/{template.pk}/send"), send, format="json")
    assert sent.status_code == 201, sent.json()
    message = Message.objects.get(pk=sent.json()["id"])
    assert message.body == "Hi Maria, your order A-5521 is ready for pickup."
    assert deliver_message.run(tenant.account.pk, message.pk) == "sent"
    [request] = twilio.sent
    assert request["ContentSid"] == template.content_sid and request["Body"] == message.body  # Twilio filled it
    assert json.loads(request["ContentVariables"]) == {"1": "Maria", "2": "A-5521"}
    assert request["To"] == f"whatsapp:{CUSTOMER}" and request["From"] == "whatsapp:+13125550101"

    # WhatsApp refuses it later (the customer's number cannot receive templates now): the agent reads why
    message.refresh_from_db()
    status = {"MessageSid": message.provider_id, "MessageStatus": "undelivered", "ErrorCode": "63016",
              "AccountSid": SID, "From": "whatsapp:+13125550101", "To": f"whatsapp:{CUSTOMER}"}  # fmt: skip
    assert post(whatsapp, "status", status).status_code == 200
    run_pending()
    message.refresh_from_db()
    assert message.delivery_status == "failed" and "approved template" in message.error_message


def test_what_a_template_send_refuses_names_the_field(
    tenant: Tenant, whatsapp: ChannelEndpoint, twilio: FakeTwilio
) -> None:
    first = closed_conversation(tenant, whatsapp)
    template = synced(tenant, whatsapp)
    admin = tenant.client("admin")
    rejected = MessageTemplate.objects.get(name="winter_sale")
    body = {"conversation": first.conversation_id, "variables": {"1": "Maria", "2": "1"}}
    cases = [
        (rejected.pk, body, "template", "not approved"),
        (template.pk, {**body, "variables": {"1": "Maria"}}, "variables", "{{2}}"),
        (template.pk, {**body, "variables": {"1": "Maria", "2": "x" * 1025}}, "variables", "1024"),
        (template.pk, {**body, "conversation": 999999}, "conversation", "No such conversation"),
    ]
    for pk, payload, field, words in cases:
        answer = admin.post(api(tenant, f"/{pk}/send"), payload, format="json")
        assert answer.status_code == 400, (field, answer.json())
        assert words in answer.json()["error"]["fields"][field][0]
    bad_source = admin.patch(api(tenant, f"/{template.pk}"), {"sources": {"1": "contact.password"}}, format="json")
    assert bad_source.status_code == 400 and "not a source" in bad_source.json()["error"]["fields"]["sources"][0]
    ContactIdentity.objects.filter(contact=first.contact).update(opted_out_at=timezone.now())
    send = {"conversation": first.conversation_id, "variables": {"1": "M", "2": "1"}}
    opted_out = admin.post(api(tenant, f"/{template.pk}/send"), send, format="json")
    assert opted_out.status_code == 400 and "channel" in opted_out.json()["error"]["fields"]
    assert twilio.sent == []


def test_agents_see_their_inboxes_templates_and_only_admins_sync_or_map(
    tenant: Tenant, whatsapp: ChannelEndpoint
) -> None:
    template = synced(tenant, whatsapp)
    agent = tenant.client("agent")
    assert agent.get(api(tenant)).json()["results"] == []  # not in the Orders inbox
    assert agent.get(api(tenant, f"/{template.pk}")).status_code == 404
    InboxMember.objects.create(account=tenant.account, inbox=whatsapp.inbox, user=tenant.agent)
    assert [t["name"] for t in agent.get(api(tenant, "?status=approved")).json()["results"]] == ["order_ready"]
    assert agent.post(api(tenant, "/sync"), {"inbox": whatsapp.inbox_id}, format="json").status_code == 403
    assert agent.patch(api(tenant, f"/{template.pk}"), {"sources": {}}, format="json").status_code == 403


def test_a_conversation_starts_with_a_template_outside_the_window(
    tenant: Tenant, whatsapp: ChannelEndpoint, twilio: FakeTwilio
) -> None:
    template = synced(tenant, whatsapp)
    answer = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/conversation-starts",
        {"inbox": whatsapp.inbox_id, "channel": "whatsapp", "to": "(312) 555-0177", "template": template.pk,
         "variables": {"1": "Sam", "2": "77"}},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.json()
    message = Message.objects.get(pk=answer.json()["message"])
    assert message.body == "Hi Sam, your order 77 is ready for pickup."
    assert deliver_message.run(tenant.account.pk, message.pk) == "sent"
    assert twilio.sent[0]["ContentSid"] == template.content_sid and twilio.sent[0]["To"] == "whatsapp:+13125550177"

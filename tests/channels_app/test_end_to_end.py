"""One customer on three channels, with a real Celery worker on Redis: a signed SMS, then WhatsApp, then an email
land in one contact and one conversation, and the agent's reply reaches (fake) Twilio through the worker."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from channels_app.adapters.twilio import webhook_url
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from contacts.models import Contact
from inbox.models import Conversation, Message
from memory.models import Fact
from tests.conftest import PUBLIC_BASE as BASE
from tests.conftest import WORKER_TWILIO, Tenant, wait_until
from tests.factories import InboxFactory
from tests.fakes.twilio_server import FakeTwilio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SID, TOKEN = WORKER_TWILIO
SECRET = "inbound-secret-0123456789abcdef"


def twilio_post(endpoint: ChannelEndpoint, payload: dict[str, str]) -> int:
    url = webhook_url(endpoint, "messaging")
    signature = RequestValidator(TOKEN).compute_signature(url, payload)
    response = Client().post(url.removeprefix(BASE), payload, HTTP_X_TWILIO_SIGNATURE=signature)
    return int(response.status_code)


def fixture(name: str, **replace: str) -> dict[str, str]:
    text = (FIXTURES / "twilio" / f"{name}.json").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return dict(json.loads(text))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_sms_then_whatsapp_then_email_are_one_customer_and_the_reply_is_delivered(
    fake_twilio_for_worker: FakeTwilio, celery_worker_process: Any, tenant: Tenant, tmp_path: Any, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    inbox = InboxFactory(account=tenant.account, name="Support")
    twilio_credentials = credentials_encrypt({"account_sid": SID, "auth_token": TOKEN})
    sms = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=inbox,
        kind="sms",
        address="+13125550100",
        credentials_encrypted=twilio_credentials,
    )
    whatsapp = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=inbox,
        kind="whatsapp",
        address="+13125550100",
        credentials_encrypted=twilio_credentials,
    )
    email = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=inbox,
        kind="email",
        provider="sendgrid",
        address="support@mail.northwind.test",
        credentials_encrypted=credentials_encrypt({"webhook_secret": SECRET}),
    )

    # 1. SMS: she gives her email in passing; the AI remembers it (a claim: it routes nothing yet).
    first = fixture("sms_inbound")
    first["Body"] = "Hi, Rosa Diaz here. The sink is leaking again. My email is rosa.diaz@example.org"
    assert twilio_post(sms, first) == 200
    sms_message = wait_until(lambda: Message.objects.filter(channel="sms").first(), what="the SMS in the inbox")
    wait_until(
        lambda: Fact.objects.filter(contact=sms_message.contact, key="email", value="rosa.diaz@example.org").exists(),
        what="the AI to learn her email address",
    )

    # 2. WhatsApp from the same number (with a photo).
    assert twilio_post(whatsapp, fixture("whatsapp_inbound", MEDIA_BASE=fake_twilio_for_worker.url)) == 200
    wait_until(lambda: Message.objects.filter(channel="whatsapp").exists(), what="the WhatsApp message")

    # 3. An email from that address, through SendGrid Inbound Parse.
    fields = json.loads((FIXTURES / "sendgrid" / "inbound_parse.json").read_text())
    fields.update(
        {"from": "Rosa Diaz <rosa.diaz@example.org>", "subject": "Leak photos", "text": "Photos attached, thanks!"}
    )
    fields["headers"] = fields["headers"].replace("Maria Lopez <maria.lopez@example.org>", "rosa.diaz@example.org")
    auth = "Basic " + base64.b64encode(f"continuum:{SECRET}".encode()).decode()
    response = Client().post(f"/webhooks/email/{email.public_id}/sendgrid", fields, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    email_message = wait_until(lambda: Message.objects.filter(channel="email").first(), what="the email")
    # An address read from a text is her claim: the email starts its own record, offered to the team as the
    # same person; a person merges them, and the two open conversations of the inbox become one.
    assert email_message.contact_id != sms_message.contact_id
    merged = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/contacts/{sms_message.contact_id}/merge",
        {"drop": email_message.contact_id},
        format="json",
    )
    assert merged.status_code == 200, merged.json()

    inbound = Message.objects.filter(direction="in", kind="message")
    assert sorted(inbound.values_list("channel", flat=True)) == ["email", "sms", "whatsapp"]
    assert Contact.objects.filter(merged_into__isnull=True).count() == 1
    assert inbound.values("conversation_id").distinct().count() == 1
    assert Message.objects.get(channel="whatsapp").attachments.count() == 1

    # The agent replies on WhatsApp (inside the 24-hour window); the worker delivers it to Twilio.
    conversation = Conversation.objects.get(merged_into__isnull=True)
    reply = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/conversations/{conversation.pk}/messages",
        {"body": "A plumber is on the way, Rosa.", "channel": "whatsapp"},
        format="json",
    )
    assert reply.status_code == 201, reply.json()
    sent = wait_until(
        lambda: [s for s in fake_twilio_for_worker.sent if s.get("Body") == "A plumber is on the way, Rosa."],
        what="the reply at Twilio",
    )
    assert sent[0]["To"] == "whatsapp:+13125550188" and sent[0]["From"] == "whatsapp:+13125550100"
    wait_until(
        lambda: Message.objects.get(pk=reply.json()["id"]).provider_id.startswith("SM"),
        what="the provider id stored on the reply",
    )

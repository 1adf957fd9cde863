"""Inbound email from SendGrid, Mailgun, Postmark and raw MIME, authenticated as each provider does; threading by
Message-ID and reply+ token; replies sent through Django's email backend with proper headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from channels_app.adapters import email as email_adapter
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import deliver_message, process_inbound_event
from contacts.models import Contact
from contacts.services import contact_resolve
from inbox.models import Conversation, Message
from inbox.services import conversation_set_status, receive_message, send_message
from tests.conftest import Tenant
from tests.factories import InboxFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "inbound-secret-0123456789abcdef"
SIGNING_KEY = "key-mailgun-signing-for-tests"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_endpoint(tenant: Tenant, provider: str, address: str = "support@northwind.test") -> ChannelEndpoint:
    inbox = InboxFactory(account=tenant.account, name=f"Support {provider}")
    secret = {"signing_key": SIGNING_KEY} if provider == "mailgun" else {"webhook_secret": SECRET}
    return ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=inbox,
        kind="email",
        provider=provider,
        address=address,
        credentials_encrypted=credentials_encrypt(secret),
    )


def path(endpoint: ChannelEndpoint) -> str:
    return f"/webhooks/email/{endpoint.public_id}/{endpoint.provider}"


def basic(secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"continuum:{secret}".encode()).decode()


def run_pending() -> list[str]:
    return [
        process_inbound_event.run(pk)
        for pk in InboundEvent.objects.filter(status="pending").values_list("pk", flat=True)
    ]


def mailgun_signed(fields: dict[str, str], *, timestamp: int | None = None, token: str = "") -> dict[str, str]:
    """Sign as Mailgun does: HMAC-SHA256 of timestamp + token with the webhook signing key."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    token = token or hashlib.sha256(f"{stamp}{fields.get('Message-Id')}".encode()).hexdigest()[:50]
    signature = hmac.new(SIGNING_KEY.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": stamp, "token": token, "signature": signature}


def post_sendgrid(endpoint: ChannelEndpoint, fields: dict[str, str], *, auth: str | None = None) -> Any:
    data: dict[str, Any] = {**fields, "attachment1": SimpleUploadedFile("statement.pdf", PDF, "application/pdf")}
    return Client().post(path(endpoint), data, HTTP_AUTHORIZATION=auth if auth is not None else basic())


@pytest.mark.django_db
def test_sendgrid_email_lands_stripped_sanitized_with_its_attachment(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "sendgrid", "support@mail.northwind.test")
    response = post_sendgrid(endpoint, load("sendgrid/inbound_parse.json"))
    assert response.status_code == 200
    assert run_pending() == ["processed"]
    message = Message.objects.get(account=tenant.account, channel="email")
    assert message.body.startswith("Hello,\n\nMy card was charged twice for invoice INV-20931")
    assert "Your invoice INV-20931 is ready" not in message.body  # the quoted history is stripped
    assert message.metadata["quoted_text_removed"] is True
    assert message.metadata["subject"] == "Invoice INV-20931 charged twice"
    assert "<script" not in message.metadata["html"] and "onerror" not in message.metadata["html"]
    assert message.provider_id == "<CAJx9mE2hF0q7kQ8rR3vZ1bN@mail.gmail.com>"
    [attachment] = message.attachments.all()
    assert (attachment.filename, attachment.content_type, attachment.file.read()) == (
        "statement.pdf",
        "application/pdf",
        PDF,
    )
    contact = Contact.objects.get(pk=message.contact_id)
    assert contact.name == "Maria Lopez"
    assert contact.identities.get().value == "maria.lopez@example.org"


@pytest.mark.django_db
@pytest.mark.parametrize("auth", ["", "Basic " + base64.b64encode(b"continuum:wrong-secret-000000").decode()])
def test_a_post_without_the_secret_is_refused_and_nothing_is_stored(tenant: Tenant, auth: str) -> None:
    endpoint = make_endpoint(tenant, "sendgrid")
    response = post_sendgrid(endpoint, load("sendgrid/inbound_parse.json"), auth=auth)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_sendgrid_retries_are_stored_once(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "sendgrid")
    for _ in range(3):
        assert post_sendgrid(endpoint, load("sendgrid/inbound_parse.json")).status_code == 200
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_mailgun_checks_signature_age_and_token_reuse(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mailgun", "support@mg.northwind.test")
    fields = load("mailgun/route_forward.json")
    fields["In-Reply-To"] = fields["References"] = ""
    signed = mailgun_signed(fields)
    assert Client().post(path(endpoint), signed).status_code == 200
    assert Client().post(path(endpoint), signed).status_code == 200  # Mailgun's retry of the same message
    assert InboundEvent.objects.count() == 1

    forged = {**signed, "signature": "0" * 64}
    assert Client().post(path(endpoint), forged).status_code == 403
    stale = mailgun_signed({**fields, "Message-Id": "<old@x>"}, timestamp=int(time.time()) - 3600)
    response = Client().post(path(endpoint), stale)
    assert response.status_code == 403 and "off" in response.content.decode()
    # The captured token and signature on another message: a replay.
    replay = {**signed, "Message-Id": "<other@attacker.test>", "body-plain": "Send the refund to my new card"}
    response = Client().post(path(endpoint), replay)
    assert response.status_code == 403 and "already used" in response.content.decode()
    assert InboundEvent.objects.count() == 1

    assert run_pending() == ["processed"]
    message = Message.objects.get(account=tenant.account, channel="email")
    assert message.body == "Yes, please refund to the same card."


@pytest.mark.django_db
def test_postmark_json_with_attachment(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "postmark", "support@inbound.northwind.test")
    response = Client().post(
        path(endpoint), json.dumps(load("postmark/inbound.json")), "application/json", HTTP_AUTHORIZATION=basic()
    )
    assert response.status_code == 200
    assert run_pending() == ["processed"]
    message = Message.objects.get(account=tenant.account, channel="email")
    assert "ORD-55120 arrived crushed" in message.body
    assert message.provider_id == "<CAJx9mE9pQ4r1vT6uZ2wX8@mail.gmail.com>"
    assert message.attachments.get().content_type == "image/jpeg"


@pytest.mark.django_db
def test_malformed_but_authenticated_is_kept_failed_with_the_reason(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "postmark")
    response = Client().post(path(endpoint), '{"Subject": "no sender"}', "application/json", HTTP_AUTHORIZATION=basic())
    assert response.status_code == 200
    assert run_pending() == ["failed"]
    event = InboundEvent.objects.get()
    assert event.status == "failed" and "not an email address" in event.error


@pytest.mark.django_db
def test_reply_goes_out_threaded_and_the_answer_finds_the_conversation(tenant: Tenant, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    endpoint = make_endpoint(tenant, "sendgrid", "support@northwind.test")
    post_sendgrid(endpoint, load("sendgrid/inbound_parse.json"))
    run_pending()
    first = Message.objects.get(account=tenant.account, channel="email")
    reply = send_message(
        account=tenant.account,
        conversation=first.conversation,
        body="We refunded one charge of 49.00 EUR.",
        sender_user=tenant.admin,
    )
    assert deliver_message.run(tenant.account.pk, reply.pk) == "sent"
    [sent] = mail.outbox
    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and reply.provider_id == sent.extra_headers["Message-ID"]
    assert sent.to == ["maria.lopez@example.org"]
    assert sent.subject == "Re: Invoice INV-20931 charged twice"
    assert sent.extra_headers["In-Reply-To"] == "<CAJx9mE2hF0q7kQ8rR3vZ1bN@mail.gmail.com>"
    token = email_adapter.reply_token(tenant.account.pk, first.conversation_id)
    assert sent.reply_to == [f"reply+{token}@northwind.test"]
    assert sent.from_email == f"{tenant.account.name} {endpoint.inbox.name} <support@northwind.test>"
    [(html, kind)] = sent.alternatives
    assert kind == "text/html" and "We refunded one charge of 49.00 EUR." in html

    # The console shows the email's subject above its text.
    console = Client()
    console.force_login(tenant.admin)
    page = console.get(f"/a/{tenant.account.pk}/conversations/{first.conversation_id}/").content.decode()
    assert '<p class="email-subject">Invoice INV-20931 charged twice</p>' in page

    # Resolved long ago (past the reopen window): the answer to our email still reopens that conversation.
    conversation_set_status(account=tenant.account, actor=None, conversation=first.conversation, status="resolved")
    Conversation.objects.filter(pk=first.conversation_id).update(resolved_at=timezone.now() - timedelta(days=30))
    mime = (
        "From: Maria Lopez <maria.lopez@example.org>\r\nTo: support@northwind.test\r\nSubject: Re: refund\r\n"
        f"Message-ID: <answer-1@mail.gmail.com>\r\nIn-Reply-To: {reply.provider_id}\r\n\r\nThanks, got it!\r\n"
    )
    mime_endpoint = ChannelEndpoint.objects.filter(pk=endpoint.pk)
    mime_endpoint.update(provider="mime")
    raw = Client().post(f"/webhooks/email/{endpoint.public_id}/mime?secret={SECRET}", mime.encode(), "message/rfc822")
    assert raw.status_code == 200
    assert run_pending() == ["processed"]
    answer = Message.objects.get(provider_id="<answer-1@mail.gmail.com>")
    assert answer.conversation_id == first.conversation_id and answer.body == "Thanks, got it!"
    assert Conversation.objects.get(pk=first.conversation_id).status == "live"


@pytest.mark.django_db
def test_a_reply_plus_token_address_threads_without_headers(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime", "support@northwind.test")
    other = contact_resolve(account=tenant.account, kind="email", raw_address="maria.lopez@example.org")
    earlier = receive_message(
        account=tenant.account, inbox=endpoint.inbox, contact=other, channel="sms", body="Refund please"
    )
    conversation_set_status(account=tenant.account, actor=None, conversation=earlier.conversation, status="resolved")
    Conversation.objects.filter(pk=earlier.conversation_id).update(resolved_at=timezone.now() - timedelta(days=30))
    token = email_adapter.reply_token(tenant.account.pk, earlier.conversation_id)
    raw = (FIXTURES / "email/reply_with_quote.eml").read_bytes().replace(b"REPLACE_TOKEN", token.encode())

    # A forged token (the conversation's number with a made-up signature) threads nothing: a new conversation.
    forged = raw.replace(token.encode(), f"{earlier.conversation_id}.0123456789abcdef".encode()).replace(
        b"CAJx9mF1aB3c5dE7fG9hJ2", b"forged-token-1"
    )
    assert Client().post(path(endpoint), forged, "message/rfc822", HTTP_AUTHORIZATION=basic()).status_code == 200
    assert run_pending() == ["processed"]
    forged_message = Message.objects.get(provider_id="<forged-token-1@mail.gmail.com>")
    assert forged_message.conversation_id != earlier.conversation_id
    conversation_set_status(
        account=tenant.account, actor=None, conversation=forged_message.conversation, status="resolved"
    )

    response = Client().post(path(endpoint), raw, "message/rfc822", HTTP_AUTHORIZATION=basic())
    assert response.status_code == 200
    assert run_pending() == ["processed"]
    message = Message.objects.get(provider_id="<CAJx9mF1aB3c5dE7fG9hJ2@mail.gmail.com>")
    assert message.conversation_id == earlier.conversation_id
    assert message.body == "Got it, the refund shows on my statement. Thank you!"
    assert Conversation.objects.get(pk=earlier.conversation_id).status == "live"


@pytest.mark.django_db
def test_admins_connect_an_email_endpoint(tenant: Tenant, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    inbox = InboxFactory(account=tenant.account, name="Billing")
    api = tenant.client("admin")
    missing = api.post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {
            "inbox": inbox.pk,
            "kind": "email",
            "provider": "mailgun",
            "address": "billing@northwind.test",
            "credentials": {"webhook_secret": "x"},
        },
        format="json",
    )
    assert missing.status_code == 400 and "signing_key" in json.dumps(missing.json())
    bad_address = api.post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {
            "inbox": inbox.pk,
            "kind": "email",
            "provider": "postmark",
            "address": "not-an-address",
            "credentials": {"webhook_secret": SECRET},
        },
        format="json",
    )
    assert bad_address.status_code == 400 and "address" in bad_address.json()["error"]["fields"]
    created = api.post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {
            "inbox": inbox.pk,
            "kind": "email",
            "provider": "postmark",
            "address": "Billing@Northwind.example",
            "credentials": {"webhook_secret": SECRET},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["address"] == "Billing@northwind.example"
    assert body["webhook_urls"] == {"inbound": f"https://inbox.example.com/webhooks/email/{body['public_id']}/postmark"}
    assert "credentials" not in body and body["credentials_set"] is True
    test = api.post(f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints/{body['id']}/test")
    assert test.status_code == 200 and "Billing@northwind.example" in test.json()["detail"]

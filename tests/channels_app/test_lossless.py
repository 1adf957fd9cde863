"""Never lose a signed message: what a provider signs is stored, whatever it contains, and processed as far as it
can be; a part that cannot be kept is named on the message, and the rest is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import ChannelEndpoint, InboundEvent
from contacts.models import Contact
from inbox.models import Message
from tests.channels_app.test_email import SECRET, basic, make_endpoint, path, run_pending
from tests.channels_app.test_twilio import fixture, post
from tests.conftest import Tenant
from tests.fakes.twilio_server import FakeTwilio

pytestmark = pytest.mark.django_db
PERSON_HEAD = "From: Maria Lopez <maria@example.org>\r\nTo: support@northwind.test\r\nMessage-ID: <m1@example.org>"


def mime(*, headers: str = "", body: bytes = b"Hello, my order has not arrived.", charset: str = "utf-8") -> bytes:
    head = (
        headers or "From: Maria Lopez <maria@example.org>\r\nTo: support@northwind.test\r\nMessage-ID: <m1@example.org>"
    )
    return (
        head.encode("utf-8", "surrogateescape")
        + f"\r\nSubject: Order\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode()
        + body
    )


def post_mime(endpoint: ChannelEndpoint, data: bytes) -> Any:
    return Client().post(path(endpoint), data, "message/rfc822", HTTP_X_WEBHOOK_SECRET=SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        "From: Maria Lopez <maria@example.org>\r\nTo: <\r\nMessage-ID: <bad-to@example.org>",
        "From: Maria Lopez <maria@example.org>\r\nTo: support@northwind.test\r\nMessage-ID: <nul\x00id@example.org>",
        "From: Maria Lopez <maria@example.org>\r\nTo: support@northwind.test\r\nMessage-ID: <\udcff@example.org>",
        "From: Maria Lopez <maria@example.org>\r\nTo: =?x-unknown?B?AAAA?= <\r\nMessage-ID: ((((",
    ],
)
def test_malformed_headers_never_reach_a_500_and_the_message_is_kept(tenant: Tenant, headers: str) -> None:
    endpoint = make_endpoint(tenant, "mime")
    assert post_mime(endpoint, mime(headers=headers)).status_code == 200
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert message.body == "Hello, my order has not arrived."
    assert Contact.objects.get().identities.get().value == "maria@example.org"


def test_a_nul_in_the_body_and_an_unknown_charset_keep_the_text(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime")
    post_mime(endpoint, mime(body=b"Order 12\x00 please"))
    post_mime(
        endpoint,
        mime(
            headers="From: maria@example.org\r\nTo: support@northwind.test\r\nMessage-ID: <m2@example.org>",
            body="Caf\xe9 order".encode("latin-1"),
            charset="x-no-such-charset",
        ),
    )
    assert run_pending() == ["processed", "processed"]
    bodies = sorted(Message.objects.values_list("body", flat=True))
    assert bodies == ["Caf\ufffd order", "Order 12\ufffd please"]


def test_a_message_id_reused_with_another_body_is_its_own_message_and_retries_stay_one(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime")
    first, second = mime(body=b"First question."), mime(body=b"A different email, same Message-ID.")
    for data in (first, first, second, second):
        assert post_mime(endpoint, data).status_code == 200
    assert InboundEvent.objects.count() == 2  # the retries of each are one event
    assert run_pending() == ["processed", "processed"]
    assert sorted(Message.objects.values_list("body", flat=True)) == [
        "A different email, same Message-ID.",
        "First question.",
    ]


def test_a_malformed_signed_postmark_body_is_kept_whole_for_replay(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "postmark")
    body = '{"From": "maria@example.org", "TextBody": "' + "x" * 30_000 + '"'  # cut short: not JSON
    response = Client().post(path(endpoint), body, "application/json", HTTP_AUTHORIZATION=basic())
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.payload["unreadable"] == body  # all of it: a fixed parser can replay it
    assert run_pending() == ["failed"]


def test_long_names_are_cut_where_they_are_stored(tenant: Tenant, sms: ChannelEndpoint) -> None:
    payload = fixture("sms_inbound")
    payload.update({"ProfileName": "R" * 250, "Body": "A NUL \x00 inside"})
    assert post(sms, "messaging", payload).status_code == 200
    assert run_pending() == ["processed"]
    contact = Contact.objects.get()
    assert contact.name == "R" * (Contact._meta.get_field("name").max_length or 0)
    assert Message.objects.get().body == "A NUL \ufffd inside"


def test_an_mms_with_a_vcard_keeps_the_photo_and_the_text(
    tenant: Tenant, sms: ChannelEndpoint, twilio: FakeTwilio, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    payload = fixture("whatsapp_inbound", MEDIA_BASE=twilio.url)
    payload.update({"NumMedia": "2", "MediaUrl1": payload["MediaUrl0"] + "2", "MediaContentType1": "text/x-vcard"})
    post(sms, "messaging", payload)
    assert run_pending() == ["processed"]
    message = Message.objects.get()
    assert message.body == "Here is a photo of the leak"
    assert [a.content_type for a in message.attachments.all()] == ["image/jpeg"]
    [refused] = message.metadata["attachments_refused"]
    assert refused.startswith("media-2") and "text/x-vcard" in refused


def test_a_nul_in_a_search_is_an_answer_not_a_500(tenant: Tenant, client: Any) -> None:
    client.force_login(tenant.admin)
    response = client.get(reverse("web:search", kwargs={"account_id": tenant.account.pk}), {"q": "order\x00"})
    assert response.status_code == 200
    api = Client().get(
        f"/api/v1/accounts/{tenant.account.pk}/search/",
        {"q": "a\x00b"},
        HTTP_AUTHORIZATION=f"Token {tenant.admin_token}",
    )
    assert api.status_code == 200, api.content


def test_a_webchat_visitor_with_a_very_long_name_and_a_nul_starts_a_chat(tenant: Tenant) -> None:
    from tests.channels_app.test_webchat import call, make_widget

    endpoint = make_widget(tenant)
    started = call(endpoint, "session", {"name": "N\x00" + "n" * 400, "email": "long@example.org"})
    assert started.status_code == 200, started.content
    sent = call(endpoint, "messages", {"body": "Hello\x00 there", "client_id": "c1"}, session=started.json()["session"])
    assert sent.status_code == 200
    assert Message.objects.get(channel="webchat").body == "Hello\ufffd there"


@pytest.mark.parametrize("provider", ["sendgrid", "postmark"])
def test_a_nul_in_a_signed_provider_post_is_kept(tenant: Tenant, provider: str) -> None:
    endpoint = make_endpoint(tenant, provider)
    if provider == "postmark":
        body = json.dumps({"From": "maria@example.org", "Subject": "Hi\x00", "TextBody": "Order\x00 late"})
        response = Client().post(path(endpoint), body, "application/json", HTTP_AUTHORIZATION=basic())
    else:
        fields = {
            "from": "maria@example.org",
            "to": "support@northwind.test",
            "subject": "Hi\x00",
            "text": "Order\x00 late",
        }
        response = Client().post(path(endpoint), fields, HTTP_AUTHORIZATION=basic())
    assert response.status_code == 200
    assert run_pending() == ["processed"]
    assert Message.objects.get().body == "Order\ufffd late"

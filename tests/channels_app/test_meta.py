"""Facebook Messenger and Instagram through the Meta Graph API, against a fake Graph server on 127.0.0.1: the
verify-token handshake, X-Hub-Signature-256, events stored once and processed like the others (the person joined
by their page-scoped id, with their profile name and photos), receipts, and replies within Meta's windows."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import deliver_message, process_inbound_event
from contacts.models import ContactIdentity
from inbox.models import Message
from inbox.services import send_message
from tests.conftest import Tenant
from tests.factories import InboxFactory
from tests.fakes.graph_server import FakeGraph

pytestmark = pytest.mark.django_db
PAGE, TOKEN, SECRET, VERIFY = "104000000000001", "EAAB-page-token", "app-secret-for-tests", "verify-token-0123456789"
PERSON = "6000000000000042"


@pytest.fixture
def graph(settings: Any) -> Iterator[FakeGraph]:
    with FakeGraph(PAGE, TOKEN) as server:
        settings.META_GRAPH_BASE_URL = server.base
        settings.META_MEDIA_HOSTS = ["127.0.0.1"]
        settings.PUBLIC_BASE_URL = "https://inbox.example.com"
        server.profiles[PERSON] = {"first_name": "Lena", "last_name": "Fischer"}
        yield server


def connect(tenant: Tenant, kind: str = "messenger") -> ChannelEndpoint:
    answer = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {"inbox": InboxFactory(account=tenant.account, name=f"Social {kind}").pk, "kind": kind, "address": PAGE,
         "credentials": {"app_secret": SECRET, "page_access_token": TOKEN, "verify_token": VERIFY}},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.json()
    assert answer.json()["provider"] == "meta"
    assert answer.json()["webhook_urls"]["callback"].startswith("https://inbox.example.com/webhooks/meta/")
    return ChannelEndpoint.objects.get(pk=answer.json()["id"])


def post(endpoint: ChannelEndpoint, body: dict[str, Any], *, secret: str = SECRET) -> Any:
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return Client().post(
        f"/webhooks/meta/{endpoint.public_id}", raw, "application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )


def message_event(mid: str, text: str, *, obj: str = "page", attachments: list[Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid, "text": text}
    if attachments:
        message["attachments"] = attachments
    return {
        "object": obj,
        "entry": [{"id": PAGE, "time": 1764756000000, "messaging": [
            {"sender": {"id": PERSON}, "recipient": {"id": PAGE}, "timestamp": int(timezone.now().timestamp() * 1000),
             "message": message},
        ]}],
    }  # fmt: skip


def run_pending() -> list[str]:
    return [
        process_inbound_event.run(pk)
        for pk in InboundEvent.objects.filter(status="pending").values_list("pk", flat=True)
    ]


def test_the_handshake_answers_the_challenge_only_with_our_verify_token(tenant: Tenant, graph: FakeGraph) -> None:
    endpoint = connect(tenant)
    url = f"/webhooks/meta/{endpoint.public_id}"
    ok = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    wrong = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403


def test_a_messenger_message_lands_once_and_the_reply_goes_back(tenant: Tenant, graph: FakeGraph) -> None:
    endpoint = connect(tenant)
    photo = [{"type": "image", "payload": {"url": f"{graph.url}/media/bike.jpg"}}]
    body = message_event("m_in_1", "Is the Trekking 7 in stock?", attachments=photo)
    assert post(endpoint, body).status_code == 200
    assert post(endpoint, body).status_code == 200  # Meta retries: stored once
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="messenger")
    assert message.body == "Is the Trekking 7 in stock?" and message.provider_id == "m_in_1"
    assert message.contact.name == "Lena Fischer"  # from the Graph profile, once
    assert ContactIdentity.objects.get(contact=message.contact).value == PERSON
    [picture] = message.attachments.all()
    assert picture.content_type == "image/jpeg"

    reply = send_message(account=tenant.account, conversation=message.conversation, body="Yes, in M and L.",
                         sender_user=tenant.admin)  # fmt: skip
    assert deliver_message.run(tenant.account.pk, reply.pk) == "sent"
    [sent] = graph.sent
    assert sent["recipient"] == {"id": PERSON} and sent["message"] == {"text": "Yes, in M and L."}
    assert sent["messaging_type"] == "RESPONSE"
    reply.refresh_from_db()
    assert reply.provider_id == sent["mid"] and reply.delivery_status == "sent"

    # Meta's receipts move it to delivered, then read
    receipt = {"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": PERSON}, "recipient": {"id": PAGE},
         "read": {"watermark": int(timezone.now().timestamp() * 1000) + 1000}}]}]}  # fmt: skip
    post(endpoint, receipt)
    run_pending()
    reply.refresh_from_db()
    assert reply.delivery_status == "read"


def test_forged_posts_are_refused_and_signed_oddities_kept(tenant: Tenant, graph: FakeGraph) -> None:
    endpoint = connect(tenant)
    forged = post(endpoint, message_event("m_x", "hi"), secret="not-the-secret")
    assert forged.status_code == 403 and not InboundEvent.objects.exists()
    unsigned = Client().post(f"/webhooks/meta/{endpoint.public_id}", b"{}", "application/json")
    assert unsigned.status_code == 403
    no_mid = {"sender": {"id": "x"}, "message": {"text": "no mid"}}
    odd = post(endpoint, {"object": "page", "entry": [{"id": PAGE, "messaging": [no_mid]}]})
    assert odd.status_code == 200
    assert run_pending() == ["failed"]
    assert "sender.id and message.mid" in InboundEvent.objects.get().error


def test_instagram_replies_respect_the_windows_and_errors_are_in_words(tenant: Tenant, graph: FakeGraph) -> None:
    endpoint = connect(tenant, "instagram")
    graph.profiles[PERSON] = {"name": "lena.rides"}
    post(endpoint, message_event("ig_1", "Do you ship to Austria?", obj="instagram"))
    run_pending()
    message = Message.objects.get(channel="instagram")
    assert message.contact.name == "lena.rides"
    # three days later: only a person's reply goes, tagged HUMAN_AGENT; the AI's does not
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=3))
    person = send_message(account=tenant.account, conversation=message.conversation, body="We do.",
                          sender_user=tenant.admin)  # fmt: skip
    assert deliver_message.run(tenant.account.pk, person.pk) == "sent"
    assert graph.sent[-1]["messaging_type"] == "MESSAGE_TAG" and graph.sent[-1]["tag"] == "HUMAN_AGENT"
    ai = send_message(account=tenant.account, conversation=message.conversation, body="Anything else?",
                      sender_type="ai")  # fmt: skip
    deliver_message.run(tenant.account.pk, ai.pk)
    ai.refresh_from_db()
    assert ai.delivery_status == "failed" and "messaging window" in ai.error_message
    # Meta refuses (the person blocked the page): the reason in words, no retry
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now())
    graph.errors.append((400, {"message": "(#551) This person isn't available right now.", "code": 551,
                               "error_subcode": 1545041}))  # fmt: skip
    blocked = send_message(account=tenant.account, conversation=message.conversation, body="Hello?",
                           sender_user=tenant.admin)  # fmt: skip
    deliver_message.run(tenant.account.pk, blocked.pk)
    blocked.refresh_from_db()
    assert blocked.delivery_status == "failed" and "not available" in blocked.error_message


def test_send_test_asks_meta_who_the_token_speaks_for(tenant: Tenant, graph: FakeGraph) -> None:
    endpoint = connect(tenant)
    answer = tenant.client("admin").post(f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints/{endpoint.pk}/test")
    assert answer.status_code == 200 and "Northwind Bikes" in answer.json()["detail"]


def test_an_answer_larger_than_the_cap_is_refused_unread(
    tenant: Tenant, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels_app.adapters import meta

    endpoint = connect(tenant)
    monkeypatch.setattr(meta, "ANSWER_MAX_BYTES", 16)  # the fake's "who am I" answer is longer than this
    with pytest.raises(meta.GraphFailed, match="larger than 16 bytes"):
        meta.check(endpoint)

"""The webchat widget's server side: sessions, allowed origins, identity verification, rate limits, the REST
fallback, and the visitor's websocket (messages, agent replies and typing, read receipts)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.realtime import publisher
from channels_app import webchat
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from channels_app.tasks import deliver_message
from config.asgi import application
from contacts.models import ContactIdentity
from contacts.services import contact_resolve
from inbox.models import Message
from inbox.services import conversation_open, send_message
from tests.conftest import Tenant, make_tenant
from tests.factories import InboxFactory

SECRET = "widget-identity-secret-for-tests"
SITE = "https://www.northwind.example"


def make_widget(tenant: Tenant, **options: Any) -> ChannelEndpoint:
    inbox = InboxFactory(account=tenant.account, name="Support")
    return ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=inbox,
        kind="webchat",
        provider="widget",
        address=webchat.new_widget_token(),
        credentials_encrypted=credentials_encrypt({"identity_secret": SECRET}),
        options={"allowed_origins": [SITE], **options},
    )


def call(endpoint: ChannelEndpoint, path: str, body: Any = None, *, session: str = "", origin: str = SITE) -> Any:
    headers: dict[str, str] = {"HTTP_ORIGIN": origin}
    if session:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {session}"
    url = f"/webchat/{endpoint.address}/{path}"
    if body is None:
        return Client().get(url, **headers)
    return Client().post(url, json.dumps(body), "application/json", **headers)


@pytest.mark.django_db
def test_a_visitor_starts_a_session_writes_and_reads_back(tenant: Tenant) -> None:
    endpoint = make_widget(tenant, title="Northwind help", prechat_fields=["name", "email"])
    started = call(endpoint, "session", {})
    assert started.status_code == 200
    assert started["Access-Control-Allow-Origin"] == SITE
    data = started.json()
    assert data["config"]["title"] == "Northwind help" and data["config"]["prechat"] == ["name", "email"]
    assert data["known"] is False and data["messages"] == []
    session = data["session"]

    sent = call(endpoint, "messages", {"body": "Do you deliver on Sundays?", "client_id": "c1"}, session=session)
    assert sent.status_code == 200
    again = call(endpoint, "messages", {"body": "Do you deliver on Sundays?", "client_id": "c1"}, session=session)
    assert again.json()["message"]["id"] == sent.json()["message"]["id"]  # a resend is stored once
    message = Message.objects.get(channel="webchat")
    assert message.inbox_id == endpoint.inbox_id and message.direction == "in"
    assert ContactIdentity.objects.get(contact=message.contact).kind == "webchat"

    send_message(
        account=tenant.account, conversation=message.conversation, body="Yes, 9 to 1.", sender_user=tenant.admin
    )
    history = call(endpoint, "messages?after=0", session=session).json()["messages"]
    assert history[-1]["sender_name"] == tenant.admin.display_name.split(" ")[0]  # a first name, no more
    assert [(m["direction"], m["body"]) for m in history] == [
        ("in", "Do you deliver on Sundays?"),
        ("out", "Yes, 9 to 1."),
    ]
    assert call(endpoint, f"messages?after={history[0]['id']}", session=session).json()["messages"][0]["body"] == (
        "Yes, 9 to 1."
    )
    # The same session on the next visit keeps the visitor and their history.
    resumed = call(endpoint, "session", {"session": session}).json()
    assert resumed["visitor_id"] == data["visitor_id"] and len(resumed["messages"]) == 2 and resumed["known"]


@pytest.mark.django_db
def test_other_origins_bad_sessions_and_unknown_widgets_are_refused(tenant: Tenant) -> None:
    endpoint = make_widget(tenant)
    refused = call(endpoint, "session", {}, origin="https://evil.example")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused
    assert call(endpoint, "messages", {"body": "hi"}, session="forged").status_code == 401
    other = make_widget(make_tenant("B"))
    other_session = call(other, "session", {}).json()["session"]
    assert call(endpoint, "messages", {"body": "hi"}, session=other_session).status_code == 401  # another widget's
    assert Client().post("/webchat/wgt_nope/session", "{}", "application/json").status_code == 404
    empty = call(endpoint, "messages", {"body": "  "}, session=call(endpoint, "session", {}).json()["session"])
    assert empty.status_code == 400 and empty.json()["error"]["fields"] == {"body": ["Write a message first."]}
    preflight = Client().options(f"/webchat/{endpoint.address}/messages", HTTP_ORIGIN=SITE)
    assert preflight.status_code == 204 and "Authorization" in preflight["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_verified_identity_joins_the_known_contact_and_unverified_never_does(tenant: Tenant) -> None:
    endpoint = make_widget(tenant)
    known = contact_resolve(account=tenant.account, kind="email", raw_address="omar@example.org", name="Omar Haddad")

    # Unverified: an email typed into the pre-chat form that belongs to someone else joins nothing.
    stranger = call(endpoint, "session", {"name": "Someone", "email": "omar@example.org"}).json()
    call(endpoint, "messages", {"body": "What is Omar's address?"}, session=stranger["session"])
    stranger_message = Message.objects.get(body="What is Omar's address?")
    assert stranger_message.contact_id != known.pk

    forged = call(endpoint, "session", {"identifier": "omar@example.org", "identifier_hash": "0" * 64})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "identity_not_verified"

    # Anonymous first, then the host site signs them in: the anonymous visitor is merged into Omar.
    anonymous = call(endpoint, "session", {}).json()
    call(endpoint, "messages", {"body": "Hello?"}, session=anonymous["session"])
    signed = webchat.identifier_hash(SECRET, "omar@example.org")
    verified = call(
        endpoint,
        "session",
        {"session": anonymous["session"], "identifier": "omar@example.org", "identifier_hash": signed},
    ).json()
    assert verified["verified"] is True and verified["visitor_id"] == anonymous["visitor_id"]
    call(endpoint, "messages", {"body": "It's Omar."}, session=verified["session"])
    assert Message.objects.get(body="It's Omar.").contact_id == known.pk
    assert Message.objects.get(body="Hello?").contact_id == known.pk


@pytest.mark.django_db
def test_a_visitor_is_rate_limited(tenant: Tenant, monkeypatch: Any) -> None:
    monkeypatch.setattr(webchat, "MESSAGES_PER_MINUTE", 3)
    endpoint = make_widget(tenant)
    session = call(endpoint, "session", {}).json()["session"]
    codes = [call(endpoint, "messages", {"body": f"spam {n}"}, session=session).status_code for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert Message.objects.filter(channel="webchat").count() == 3


@pytest.mark.django_db
def test_admins_add_a_widget_and_get_the_script_tag_and_secret_once(tenant: Tenant, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    inbox = InboxFactory(account=tenant.account, name="Sales")
    url = f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints"
    bad = tenant.client("admin").post(
        url,
        {"inbox": inbox.pk, "kind": "webchat", "options": {"allowed_origins": ["northwind.example"]}},
        format="json",
    )
    assert bad.status_code == 400 and "options.allowed_origins" in bad.json()["error"]["fields"]
    created = tenant.client("admin").post(
        url,
        {"inbox": inbox.pk, "kind": "webchat", "options": {"allowed_origins": [SITE], "prechat_fields": ["name"]}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["address"].startswith("wgt_") and len(body["identity_secret"]) > 30
    assert body["webhook_urls"]["script"] == (
        f'<script src="https://inbox.example.com/static/widget/continuum.js" data-widget="{body["address"]}" async>'
        "</script>"
    )
    shown = tenant.client("admin").get(f"{url}/{body['id']}").json()
    assert "identity_secret" not in shown and shown["options"]["allowed_origins"] == [SITE]
    assert Client().get("/static/widget/continuum.js").status_code == 200


# --- The websocket ----------------------------------------------------------------------------------------------


async def _socket(
    endpoint: ChannelEndpoint, session: str, origin: str = SITE
) -> tuple[WebsocketCommunicator, bool, Any]:
    assert await sync_to_async(publisher.flush)()  # the set-up's events are sent before this socket opens
    communicator = WebsocketCommunicator(
        application, f"/ws/webchat/{endpoint.address}/?session={session}", headers=[(b"origin", origin.encode())]
    )
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@pytest.mark.django_db(transaction=True)
async def test_the_visitors_websocket_carries_messages_replies_typing_and_receipts() -> None:
    tenant: Tenant = await sync_to_async(make_tenant)("A")
    endpoint = await sync_to_async(make_widget)(tenant)
    session = (await sync_to_async(call)(endpoint, "session", {})).json()["session"]

    _, connected, code = await _socket(endpoint, session, origin="https://evil.example")
    assert not connected and code == 4403
    _, connected, code = await _socket(endpoint, "forged")
    assert not connected and code == 4401

    visitor, connected, _ = await _socket(endpoint, session)
    assert connected
    assert (await visitor.receive_json_from(timeout=5))["type"] == "hello"
    await visitor.send_json_to({"type": "message", "body": "My order never came", "client_id": "a1"})
    ack = await visitor.receive_json_from(timeout=5)
    assert ack["type"] == "ack" and ack["client_id"] == "a1" and ack["message"]["body"] == "My order never came"

    inbound = await sync_to_async(Message.objects.get)(pk=ack["message"]["id"])
    reply = await sync_to_async(send_message)(
        account=tenant.account,
        conversation=await sync_to_async(lambda: inbound.conversation)(),
        body="Sorry! Checking.",
    )
    assert await sync_to_async(deliver_message.run)(tenant.account.pk, reply.pk) == "sent"
    pushed = await visitor.receive_json_from(timeout=5)
    assert pushed == {
        "type": "message",
        "message": {**pushed["message"], "body": "Sorry! Checking.", "direction": "out"},
    }
    await visitor.send_json_to({"type": "seen", "id": reply.pk})

    # An agent typing in the console shows in the widget, with their first name only.
    from tests.test_websocket import _connect, _session_cookie

    agent, connected, _ = await _connect(tenant.account.pk, await sync_to_async(_session_cookie)(tenant.admin))
    assert connected
    await agent.receive_json_from(timeout=5)
    # A private note being written is for the team only.
    await agent.send_json_to({"type": "typing", "conversation_id": inbound.conversation_id, "kind": "note"})
    assert await visitor.receive_nothing(timeout=0.5)
    # Typing in another conversation of the same contact (another team's inbox) never reaches this widget.
    sales = await sync_to_async(InboxFactory)(account=tenant.account, name="Sales")
    contact = await sync_to_async(lambda: inbound.contact)()
    elsewhere = await sync_to_async(conversation_open)(
        account=tenant.account, actor=None, inbox=sales, contact=contact, channel="sms"
    )
    await agent.send_json_to({"type": "typing", "conversation_id": elsewhere.pk, "kind": "message"})
    assert await visitor.receive_nothing(timeout=0.5)
    await agent.send_json_to({"type": "typing", "conversation_id": inbound.conversation_id, "kind": "message"})
    typing = await visitor.receive_json_from(timeout=5)
    assert typing == {"type": "typing", "name": tenant.admin.display_name.split(" ")[0]}
    # ... and the visitor typing shows in the console.
    await visitor.send_json_to({"type": "typing"})
    seen_by_agent = await agent.receive_json_from(timeout=5)
    assert seen_by_agent["type"] == "typing" and seen_by_agent["conversation_id"] == inbound.conversation_id
    await sync_to_async(reply.refresh_from_db)()
    assert reply.delivery_status == "read"
    await agent.disconnect()
    await visitor.disconnect()


@pytest.mark.django_db
def test_new_sessions_are_limited_per_client_address_behind_the_proxy(
    tenant: Tenant, settings: Any, monkeypatch: Any
) -> None:
    settings.BEHIND_PROXY = True
    monkeypatch.setattr(webchat, "SESSIONS_PER_MINUTE", 2)
    endpoint = make_widget(tenant)

    def start(forwarded: str) -> int:
        response = Client().post(
            f"/webchat/{endpoint.address}/session",
            "{}",
            "application/json",
            HTTP_ORIGIN=SITE,
            HTTP_X_FORWARDED_FOR=forwarded,
        )
        return int(response.status_code)

    # The first entry is the client's own claim; the last is what our proxy saw.
    assert [start(f"10.0.0.{n}, 203.0.113.7") for n in range(3)] == [200, 200, 429]
    assert start("198.51.100.9") == 200  # another visitor is not held back

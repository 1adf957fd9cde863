"""Open console sockets follow access: removed from an inbox, removed from the account, deactivated or signed
out, the person's open socket narrows or closes at once (through the real routing and the Redis channel layer),
and a socket that missed the notice re-checks before sending."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.realtime import publisher
from config.asgi import application
from inbox.models import InboxMember
from tests.conftest import Tenant, make_tenant
from tests.factories import InboxFactory, inbound
from web import consumers
from web.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _signed_in(user: Any) -> tuple[Client, bytes]:
    def login() -> Client:
        client = Client()
        client.force_login(user)
        return client

    client = await sync_to_async(login)()
    return client, f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _open(account_id: int, cookie: bytes) -> WebsocketCommunicator:
    # what the set-up published is sent before the socket opens (publishing does not wait for Redis)
    assert await sync_to_async(publisher.flush)()
    socket = WebsocketCommunicator(
        application, f"/ws/v1/accounts/{account_id}/", headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)]
    )
    connected, _ = await socket.connect(timeout=5)
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    return socket


async def _agent_in_sales() -> tuple[Tenant, Any, Client, WebsocketCommunicator]:
    from inbox.services import inbox_member_add

    tenant: Tenant = await sync_to_async(make_tenant)("A")
    sales = await sync_to_async(InboxFactory)(account=tenant.account, name="Sales", auto_assign=False)
    await sync_to_async(inbox_member_add)(account=tenant.account, actor=None, inbox=sales, user=tenant.agent)
    client, cookie = await _signed_in(tenant.agent)
    return tenant, sales, client, await _open(tenant.account.pk, cookie)


async def _closed_with(socket: WebsocketCommunicator) -> int:
    """The close code the server sent; then the client side hangs up too, so the consumer's task ends here and not
    when the test's event loop is torn down (a consumer still waiting there can stall the teardown)."""
    output = await socket.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await socket.receive_output(timeout=5)
    await socket.disconnect()
    return int(output["code"])


async def test_removed_from_an_inbox_the_socket_stops_streaming_it_at_once() -> None:
    from inbox.services import inbox_member_remove

    tenant, sales, _client, socket = await _agent_in_sales()
    await sync_to_async(inbound)(tenant.account, sales, "+15550005678", "before")
    assert (await socket.receive_json_from(timeout=5))["message"]["body"] == "before"
    assert (await socket.receive_json_from(timeout=5))["type"] == "conversation.updated"

    await sync_to_async(inbox_member_remove)(account=tenant.account, actor=None, inbox=sales, user=tenant.agent)
    assert await socket.receive_json_from(timeout=5) == {"type": "access.changed", "role": "agent", "inbox_ids": []}
    await sync_to_async(inbound)(tenant.account, sales, "+15550005678", "after: a note for the team only")
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_added_to_an_inbox_the_socket_starts_streaming_it() -> None:
    from inbox.services import inbox_member_add

    tenant, _sales, _client, socket = await _agent_in_sales()
    billing = await sync_to_async(InboxFactory)(account=tenant.account, name="Billing", auto_assign=False)
    await sync_to_async(inbox_member_add)(account=tenant.account, actor=None, inbox=billing, user=tenant.agent)
    assert billing.pk in (await socket.receive_json_from(timeout=5))["inbox_ids"]
    await sync_to_async(inbound)(tenant.account, billing, "+15550001111", "billing news")
    assert (await socket.receive_json_from(timeout=5))["message"]["body"] == "billing news"
    await socket.disconnect()


async def test_removed_from_the_account_the_socket_closes() -> None:
    from accounts.services import member_remove

    tenant, _sales, _client, socket = await _agent_in_sales()
    await sync_to_async(member_remove)(account=tenant.account, actor=None, membership=tenant.agent_membership)
    assert await _closed_with(socket) == CLOSE_NOT_FOUND


async def test_deactivated_the_socket_closes() -> None:
    tenant, _sales, _client, socket = await _agent_in_sales()

    def deactivate() -> None:
        tenant.agent.is_active = False
        tenant.agent.save()

    await sync_to_async(deactivate)()
    assert await _closed_with(socket) == CLOSE_UNAUTHENTICATED


async def test_signing_out_closes_that_sessions_sockets_and_not_another_devices() -> None:
    tenant, _sales, client, socket = await _agent_in_sales()
    _other_client, other_cookie = await _signed_in(tenant.agent)
    other_device = await _open(tenant.account.pk, other_cookie)

    from django.urls import reverse

    await sync_to_async(client.post)(reverse("logout"))
    assert await _closed_with(socket) == CLOSE_UNAUTHENTICATED
    assert (await other_device.receive_json_from(timeout=5))["type"] == "access.changed"  # re-checked, still in
    await other_device.disconnect()


async def test_a_socket_that_missed_the_notice_rechecks_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, sales, _client, socket = await _agent_in_sales()
    monkeypatch.setattr(consumers, "ACCESS_RECHECK_SECONDS", 0.0)
    # Removed behind the services' back (no notice is sent): the next event is re-checked and dropped.
    await sync_to_async(InboxMember.objects.filter(user=tenant.agent).delete)()
    await sync_to_async(inbound)(tenant.account, sales, "+15550005678", "must not arrive")
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()

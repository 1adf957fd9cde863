"""The console websocket through the real ASGI routing, session auth and the Redis channel layer."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.realtime import publisher
from config.asgi import application
from tests.conftest import Tenant, make_tenant
from web.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, account_group

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _session_cookie(user) -> bytes:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _connect(account_id: int, cookie: bytes | None) -> tuple[WebsocketCommunicator, bool, int | None]:
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    assert await sync_to_async(publisher.flush)()  # the set-up's events are sent before this socket opens
    communicator = WebsocketCommunicator(application, f"/ws/v1/accounts/{account_id}/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _finish(communicator: WebsocketCommunicator) -> None:
    """Let a refused socket's application end before the test's event loop closes; one still running after a
    second is cancelled. A task left pending there made the loop's teardown wait until pytest-timeout (an
    intermittent 300 s hang of test_anonymous_socket_is_refused)."""
    with contextlib.suppress(asyncio.CancelledError):
        await communicator.wait(timeout=1)


async def test_member_connects_and_receives_account_events() -> None:
    tenant: Tenant = await sync_to_async(make_tenant)("A")
    cookie = await sync_to_async(_session_cookie)(tenant.agent)
    communicator, connected, _ = await _connect(tenant.account.pk, cookie)
    assert connected
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "hello",
        "account_id": tenant.account.pk,
        "role": "agent",
        "inbox_ids": [],
        "availability": "online",  # a console open: the person is at their desk
    }
    await get_channel_layer().group_send(
        account_group(tenant.account.pk), {"type": "realtime.event", "event": {"type": "test.happened"}}
    )
    assert await communicator.receive_json_from(timeout=5) == {"type": "test.happened"}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()
    assert await sync_to_async(lambda: tenant.agent_membership.__class__.objects.get(
        pk=tenant.agent_membership.pk).availability)() == "offline"  # fmt: skip


async def test_another_accounts_socket_is_refused() -> None:
    tenant: Tenant = await sync_to_async(make_tenant)("A")
    other: Tenant = await sync_to_async(make_tenant)("B")
    cookie = await sync_to_async(_session_cookie)(tenant.admin)
    communicator, connected, code = await _connect(other.account.pk, cookie)
    assert not connected
    assert code == CLOSE_NOT_FOUND
    # and it hears nothing sent to that account
    await get_channel_layer().group_send(
        account_group(other.account.pk), {"type": "realtime.event", "event": {"type": "secret"}}
    )
    assert await communicator.receive_nothing(timeout=0.3)


async def test_anonymous_socket_is_refused() -> None:
    tenant: Tenant = await sync_to_async(make_tenant)("A")
    communicator, connected, code = await _connect(tenant.account.pk, None)
    assert not connected
    assert code == CLOSE_UNAUTHENTICATED
    await _finish(communicator)


async def test_foreign_origin_is_refused() -> None:
    tenant: Tenant = await sync_to_async(make_tenant)("A")
    cookie = await sync_to_async(_session_cookie)(tenant.agent)
    communicator = WebsocketCommunicator(
        application,
        f"/ws/v1/accounts/{tenant.account.pk}/",
        headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected
    await _finish(communicator)


async def test_inbox_events_reach_only_members_of_that_inbox() -> None:
    from inbox.services import inbox_member_add
    from tests.factories import InboxFactory, inbound

    tenant: Tenant = await sync_to_async(make_tenant)("A")
    sales = await sync_to_async(InboxFactory)(account=tenant.account, name="Sales", auto_assign=False)
    billing = await sync_to_async(InboxFactory)(account=tenant.account, name="Billing", auto_assign=False)
    await sync_to_async(inbox_member_add)(account=tenant.account, actor=None, inbox=sales, user=tenant.agent)
    agent_socket, connected, _ = await _connect(tenant.account.pk, await sync_to_async(_session_cookie)(tenant.agent))
    assert connected
    assert (await agent_socket.receive_json_from(timeout=5))["inbox_ids"] == [sales.pk]
    admin_socket, connected, _ = await _connect(tenant.account.pk, await sync_to_async(_session_cookie)(tenant.admin))
    assert (await admin_socket.receive_json_from(timeout=5))["inbox_ids"] == sorted([sales.pk, billing.pk])

    await sync_to_async(inbound)(tenant.account, billing, "+15550001234", "billing secret")
    await sync_to_async(inbound)(tenant.account, sales, "+15550005678", "sales question")

    created = await agent_socket.receive_json_from(timeout=5)
    assert created["type"] == "message.created" and created["message"]["body"] == "sales question"
    assert (await agent_socket.receive_json_from(timeout=5))["type"] == "conversation.updated"
    assert await agent_socket.receive_nothing(timeout=0.3)
    admin_bodies = []
    for _ in range(4):
        event = await admin_socket.receive_json_from(timeout=5)
        if event["type"] == "message.created":
            admin_bodies.append(event["message"]["body"])
    assert admin_bodies == ["billing secret", "sales question"]
    await agent_socket.disconnect()
    await admin_socket.disconnect()


async def test_typing_reaches_the_others_in_that_inbox_only() -> None:
    from inbox.services import inbox_member_add
    from tests.factories import InboxFactory, inbound

    tenant: Tenant = await sync_to_async(make_tenant)("A")
    sales = await sync_to_async(InboxFactory)(account=tenant.account, name="Sales", auto_assign=False)
    billing = await sync_to_async(InboxFactory)(account=tenant.account, name="Billing", auto_assign=False)
    await sync_to_async(inbox_member_add)(account=tenant.account, actor=None, inbox=sales, user=tenant.agent)
    in_sales = await sync_to_async(inbound)(tenant.account, sales, "+15550005678", "sales question")
    in_billing = await sync_to_async(inbound)(tenant.account, billing, "+15550001234", "billing question")
    agent, _, _ = await _connect(tenant.account.pk, await sync_to_async(_session_cookie)(tenant.agent))
    admin, _, _ = await _connect(tenant.account.pk, await sync_to_async(_session_cookie)(tenant.admin))
    await agent.receive_json_from(timeout=5)
    await admin.receive_json_from(timeout=5)

    await admin.send_json_to({"type": "typing", "conversation_id": in_sales.conversation_id})
    event = await agent.receive_json_from(timeout=5)
    assert event["type"] == "typing" and event["conversation_id"] == in_sales.conversation_id
    assert event["name"] == tenant.admin.display_name
    assert await admin.receive_nothing(timeout=0.3)  # not echoed to the one typing

    # the agent cannot announce typing in an inbox it does not see (nor in another account's conversation)
    await agent.send_json_to({"type": "typing", "conversation_id": in_billing.conversation_id})
    await agent.send_json_to({"type": "typing", "conversation_id": "1; DROP"})
    assert await admin.receive_nothing(timeout=0.5)
    await agent.disconnect()
    await admin.disconnect()


async def test_an_idle_socket_stays_open_and_still_receives() -> None:
    """redis-py's default read timeout (5 s) equals channels-redis's blocking receive; an idle console must not
    be dropped when they meet."""
    import asyncio

    tenant: Tenant = await sync_to_async(make_tenant)("A")
    socket, connected, _ = await _connect(tenant.account.pk, await sync_to_async(_session_cookie)(tenant.agent))
    assert connected
    await socket.receive_json_from(timeout=5)
    await asyncio.sleep(6.5)
    await get_channel_layer().group_send(
        account_group(tenant.account.pk), {"type": "realtime.event", "event": {"type": "late.news"}}
    )
    assert await socket.receive_json_from(timeout=5) == {"type": "late.news"}
    await socket.disconnect()

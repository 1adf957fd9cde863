"""The process's publisher: a caller hands an event over and goes on; events reach the channel layer (real Redis)
in the order published, and one that fails is logged without stopping the ones after it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.realtime import publisher, send_group


def listening(group: str) -> str:
    layer = get_channel_layer()

    async def join() -> str:
        name = await layer.new_channel()
        await layer.group_add(group, name)
        return str(name)

    return async_to_sync(join)()


def received(channel: str, count: int) -> list[Any]:
    layer = get_channel_layer()

    async def read() -> list[Any]:
        return [(await asyncio.wait_for(layer.receive(channel), 10))["n"] for _ in range(count)]

    return async_to_sync(read)()


def test_events_arrive_in_the_order_published() -> None:
    channel = listening("test.publisher.order")
    for n in range(40):
        send_group("test.publisher.order", {"type": "test.event", "n": n})
    assert publisher.flush()
    assert received(channel, 40) == list(range(40))


def test_a_failed_send_is_logged_and_the_next_events_still_go(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    channel = listening("test.publisher.failure")
    layer = get_channel_layer()
    real = layer.group_send
    calls = {"n": 0}

    async def flaky(group: str, message: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("Redis went away")
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", flaky)
    with caplog.at_level(logging.ERROR, logger="accounts.realtime"):
        for n in range(3):
            send_group("test.publisher.failure", {"type": "test.event", "n": n})
        assert publisher.flush()
    assert "realtime publish to test.publisher.failure failed" in caplog.text
    assert received(channel, 2) == [1, 2]


def test_a_process_that_publishes_and_exits_still_sends() -> None:
    import os
    import subprocess
    import sys

    channel = listening("test.publisher.exit")
    script = (
        "import django; django.setup()\n"
        "from accounts.realtime import send_group\n"
        "for n in range(5): send_group('test.publisher.exit', {'type': 'test.event', 'n': n})\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert received(channel, 5) == list(range(5))

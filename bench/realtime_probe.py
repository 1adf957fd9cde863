"""The realtime floor's task (bench/realtime_bench.py): a worker started with `-I realtime_probe` runs it. It only
sends a channel-layer message to an inbox's group: the path of a live update with none of the app's work on it."""

from __future__ import annotations

from celery import shared_task

from accounts.realtime import send_group


@shared_task(name="bench.realtime_probe")
def realtime_probe(group: str, inbox_id: int, n: int) -> None:
    send_group(group, {"type": "realtime.event", "event": {"type": "probe", "inbox_id": inbox_id, "n": n}})

"""Fault drills with real processes: signed SMS bursts through the real webhook path while a worker is killed
with SIGKILL or Redis is stopped. Every message that got a 200 is stored exactly once and analyzed exactly once,
and service resumes by itself (sweepers stand in for beat, run by the drill on the same schedule shape).
Figures: var/drills/<drill>.json, copied into docs/reliability.md."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from celery import Celery
from django.conf import settings as django_settings
from django.test import Client
from twilio.request_validator import RequestValidator

from ai_agent.tasks import sweep_unanalyzed
from channels_app.adapters.twilio import webhook_url
from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import sweep_inbound_events
from inbox.models import Message
from memory.models import SentimentReading
from tests.channels_app.test_twilio import SID, TOKEN, sms_endpoint
from tests.conftest import Tenant, wait_until
from tests.resilience.processes import DrillPostgres, DrillRedis, Web, Worker, manage, process_env, record

pytestmark = pytest.mark.django_db(transaction=True)
PUBLIC = "https://inbox.example.com"  # what sms_endpoint signs for
BURST = 200
TWILIO_WEBHOOK_TIMEOUT = 15.0  # seconds Twilio waits for a webhook's answer
FAST_SWEEPS = {
    "INBOUND_SWEEP_AFTER_SECONDS": "2",
    "ANALYSIS_SWEEP_AFTER_SECONDS": "2",
    "CELERY_VISIBILITY_TIMEOUT": "5",
}


def sms(n: int) -> dict[str, str]:
    sid = f"SMdrill{n:027d}"
    return {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": SID, "From": f"+1312555{n % 500:04d}", "To": "+13125550100",
        "Body": f"Message {n}: my order has not arrived and I am upset", "NumMedia": "0", "ApiVersion": "2010-04-01",
    }  # fmt: skip


def signed(endpoint: ChannelEndpoint, payload: dict[str, str]) -> tuple[str, str]:
    url = webhook_url(endpoint, "messaging")
    return url.removeprefix(PUBLIC), RequestValidator(TOKEN).compute_signature(url, payload)


def figures(sent: int, answered_200: int) -> dict[str, Any]:
    sids = list(Message.objects.filter(direction="in").values_list("provider_id", flat=True))
    return {
        "sent": sent,
        "answered_200": answered_200,
        "stored": len(set(sids)),
        "duplicated": len(sids) - len(set(sids)),
        "lost": answered_200 - len(set(sids)),
        "events_processed": InboundEvent.objects.filter(status="processed").count(),
        "analyses": SentimentReading.objects.count(),
    }


def settle(sweep: Callable[[], None], expected: int, timeout: float = 120.0) -> float:
    """Wait until every message is stored and analyzed, sweeping as beat would; the seconds it took."""
    start = time.monotonic()

    def done() -> bool:
        sweep()
        return (
            Message.objects.filter(direction="in").count() >= expected and SentimentReading.objects.count() >= expected
        )

    wait_until(done, timeout=timeout, interval=1.0, what="every message stored and analyzed")
    return round(time.monotonic() - start, 1)


def test_worker_killed_mid_burst(tenant: Tenant, settings: Any) -> None:
    settings.INBOUND_SWEEP_AFTER_SECONDS = settings.ANALYSIS_SWEEP_AFTER_SECONDS = 2
    endpoint = sms_endpoint(tenant, settings)
    env = process_env(django_settings.REDIS_URL, PUBLIC_BASE_URL=PUBLIC, **FAST_SWEEPS)
    worker = Worker(env)
    client, answered = Client(), 0
    try:
        for n in range(BURST):
            path, signature = signed(endpoint, sms(n))
            answered += client.post(path, sms(n), HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
            if n == BURST // 4:  # the worker is busy with the first quarter: kill it and its children
                wait_until(lambda: Message.objects.count() >= 10, timeout=60, what="the worker to start storing")
                worker.kill9()
                worker = Worker(env)

        def sweep() -> None:  # beat's sweeps, from this process (it publishes to the same Redis)
            sweep_inbound_events.run()
            sweep_unanalyzed.run()

        took = settle(sweep, BURST)
    finally:
        worker.stop()
    result = {**figures(BURST, answered), "recovered_in_s": took}
    record("worker_kill9", result)
    assert result["answered_200"] == BURST
    assert (result["stored"], result["duplicated"], result["lost"]) == (BURST, 0, 0)
    assert result["analyses"] == BURST  # once each (one reading per message is also a constraint)


@pytest.mark.parametrize("fault", ["stopped", "stalled"])
def test_redis_fails_during_a_burst(tenant: Tenant, settings: Any, tmp_path: Any, fault: str) -> None:
    """Redis stopped (connections refused) for 80 of 200 webhooks, or stalled (SIGSTOP: connections hang) for 40."""
    endpoint = sms_endpoint(tenant, settings)
    redis = DrillRedis(tmp_path / "redis")
    redis.start()
    env = process_env(redis.url, PUBLIC_BASE_URL=PUBLIC, **FAST_SWEEPS)
    web, worker = Web(env), Worker(env)
    beat = Celery(broker=redis.url, set_as_current=False)  # the drill's beat: asks the worker to sweep
    statuses: list[int] = []
    slowest = [0.0]
    lock = threading.Lock()

    def post(n: int) -> None:
        path, signature = signed(endpoint, sms(n))
        started = time.monotonic()
        try:
            response = requests.post(web.url + path, data=sms(n), headers={"X-Twilio-Signature": signature}, timeout=30)
            status = response.status_code
        except requests.RequestException:
            status = 0
        with lock:
            statuses.append(status)
            slowest[0] = max(slowest[0], time.monotonic() - started)

    def sweep() -> None:
        for task in ("channels_app.tasks.sweep_inbound_events", "ai_agent.tasks.sweep_unanalyzed"):
            with contextlib.suppress(Exception):  # Redis still coming back: the next round sends it
                beat.send_task(task, queue="celery", retry=False)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, range(0, 60)))
            redis.stop() if fault == "stopped" else redis.pause()  # Redis fails in the middle of the burst
            list(pool.map(post, range(60, 140 if fault == "stopped" else 100)))  # a stall holds each post longer
            redis.start() if fault == "stopped" else redis.resume()
            list(pool.map(post, range(140 if fault == "stopped" else 100, BURST)))
        took = settle(sweep, BURST)
    finally:
        worker.stop()
        web.stop()
        redis.stop()
    result = {**figures(BURST, statuses.count(200)), "recovered_in_s": took, "slowest_webhook_s": round(slowest[0], 2)}
    record(f"redis_{fault}", result)
    assert statuses.count(200) == BURST, sorted(set(statuses))
    assert (result["stored"], result["duplicated"], result["lost"]) == (BURST, 0, 0)
    assert result["analyses"] == BURST
    # Twilio gives up on a webhook after 15 s: a broker that hangs must not hold the answer that long.
    assert result["slowest_webhook_s"] < TWILIO_WEBHOOK_TIMEOUT


SETUP = """
from accounts.models import Account
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from inbox.models import Inbox
account = Account.objects.create(name="Drill")
inbox = Inbox.objects.create(account=account, name="Support")
endpoint = ChannelEndpoint.objects.create(
    account=account, inbox=inbox, kind="sms", address="+13125550100",
    credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
)
print(endpoint.public_id)
""".replace("SID", repr(SID)).replace("TOKEN", repr(TOKEN))


@pytest.mark.django_db(transaction=False)
def test_postgres_stopped_during_a_burst(tmp_path: Any) -> None:
    database = DrillPostgres(tmp_path / "postgres")
    redis = DrillRedis(tmp_path / "redis")
    redis.start()
    env = process_env(redis.url, PUBLIC_BASE_URL=PUBLIC, **FAST_SWEEPS)
    env["DATABASE_URL"] = database.url
    web = worker = None
    try:
        manage(env, "migrate", "-v0")
        public_id = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
        web, worker = Web(env), Worker(env)
        url = f"{PUBLIC}/webhooks/twilio/{public_id}/messaging"
        beat = Celery(broker=redis.url, set_as_current=False)

        def post(n: int) -> tuple[int, str]:
            payload = sms(n)
            signature = RequestValidator(TOKEN).compute_signature(url, payload)
            response = requests.post(
                web.url + url.removeprefix(PUBLIC), data=payload, headers={"X-Twilio-Signature": signature}, timeout=15
            )
            return response.status_code, response.headers.get("Retry-After", "")

        answers = [post(n) for n in range(0, 50)]
        database.stop()  # PostgreSQL goes away in the middle of the burst
        down = [post(n) for n in range(50, 100)]
        database.start()
        retried = [post(n) for n in range(50, 100) if down[n - 50][0] != 200]  # the provider retries a 503
        answers += [post(n) for n in range(100, 150)]

        def done() -> bool:
            for task in ("channels_app.tasks.sweep_inbound_events", "ai_agent.tasks.sweep_unanalyzed"):
                beat.send_task(task, queue="celery", retry=False)
            return bool(database.query("SELECT count(*) FROM memory_sentimentreading")[0] >= 150)

        start = time.monotonic()
        wait_until(done, timeout=120, interval=1.0, what="every message stored and analyzed")
        stored, distinct = database.query(
            "SELECT count(*), count(DISTINCT provider_id) FROM inbox_message WHERE direction = 'in'"
        )
        events, unfinished = database.query(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'processed') FROM channels_app_inboundevent"
        )
        analyses = database.query("SELECT count(*) FROM memory_sentimentreading")[0]
    finally:
        for process in (worker, web):
            if process is not None:
                process.stop()
        redis.stop()
        database.close()
    result = {
        "sent": 150,
        "answered_503_while_down": sum(1 for status, _ in down if status == 503),
        "retry_after": sorted({after for status, after in down if status == 503}),
        "answered_other_while_down": sorted({status for status, _ in down if status not in (200, 503)}),
        "stored": distinct,
        "duplicated": stored - distinct,
        "lost": 150 - distinct,
        "events": events,
        "events_unfinished": unfinished,
        "analyses": analyses,
        "recovered_in_s": round(time.monotonic() - start, 1),
    }
    record("postgres_stopped", result)
    assert all(status == 200 for status, _ in answers + retried)
    assert result["answered_other_while_down"] == []  # a 503 with Retry-After, never a 500
    assert result["answered_503_while_down"] > 0 and result["retry_after"] == ["30"]
    assert (result["stored"], result["duplicated"], result["lost"], result["events_unfinished"]) == (150, 0, 0, 0)
    assert result["analyses"] == 150

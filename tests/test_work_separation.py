"""Work that cannot starve other work, and replies that survive a broker outage: inbound processing, outbound
delivery and AI run on separate queues served by separate worker pools, and an agent's reply written while the
broker is down is answered 201 and delivered later by the sweeper."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.utils import timezone

from channels_app.tasks import deliver_message, sweep_outbound
from config.celery_app import app
from inbox.models import Message
from tests.conftest import ROOT, Tenant
from tests.factories import InboxFactory, inbound


def _queue(task: str) -> str:
    return str(app.amqp.router.route({}, task)["queue"].name)


def test_inbound_outbound_and_ai_have_their_own_queues_and_pools() -> None:
    assert _queue("channels_app.tasks.process_inbound_event") == "inbound"
    assert _queue("channels_app.tasks.deliver_message") == "outbound"
    for task in ("analyze_message", "refresh_note", "run_agent_turn"):
        assert _queue(f"ai_agent.tasks.{task}") == "ai"
    procfile = dict(
        line.split(": ", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    pools = {name: cmd.split("--queues ")[1].split()[0] for name, cmd in procfile.items() if "--queues" in cmd}
    assert _queue("integrations.tasks.deliver_webhook") == "webhooks"  # a slow receiver waits on its own queue
    assert pools == {"inbound": "inbound,celery", "outbound": "outbound", "webhooks": "webhooks", "ai": "ai"}
    assert procfile["ai"].startswith("{ echo 10 > /proc/self/autogroup; }")  # its session yields (make run)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    served = {name: svc["command"][svc["command"].index("--queues") + 1] for name, svc in compose.items()
              if "--queues" in (svc.get("command") or [])}  # fmt: skip
    assert served == {
        "worker-inbound": "inbound,celery",
        "worker-outbound": "outbound",
        "worker-webhooks": "webhooks",
        "worker-ai": "ai",
    }
    assert set(settings.WORKER_QUEUES) == {"inbound", "outbound", "ai", "webhooks", "celery"}


@pytest.mark.django_db(transaction=True)
def test_a_reply_written_while_the_broker_is_down_is_201_and_sent_later(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550102020", "Hi").conversation

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Error 111 connecting to redis. Connection refused.")

    monkeypatch.setattr(deliver_message, "delay", broker_down)
    url = f"/api/v1/accounts/{tenant.account.pk}/conversations/{conversation.pk}/messages"
    response = tenant.client("admin").post(url, {"body": "On our way", "channel": "sms"}, format="json")
    assert response.status_code == 201, response.content
    reply = Message.objects.get(pk=response.json()["id"])
    assert reply.delivery_status == "queued"
    Message.objects.filter(pk=reply.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(deliver_message, "delay", lambda *args: queued.append(args))
    assert sweep_outbound.run() == 1
    assert queued == [(tenant.account.pk, reply.pk)]

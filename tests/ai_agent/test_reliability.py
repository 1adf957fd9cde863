"""Analysis that cannot starve or strand: an admin's catastrophic pattern costs a fraction of a second and is
reported, a huge message is read by its first pages, messages whose analysis never ran are picked up, and a
broker failure after the work committed never marks the event failed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

import ai_agent.tasks
from accounts.models import AuditLog
from ai_agent.engines.local import LocalEngine
from ai_agent.tasks import ANALYSIS_MAX_CHARS, analyze_message, sweep_unanalyzed
from inbox.models import Message
from memory.models import Fact
from memory.services import fact_definition_create
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def test_a_catastrophic_admin_pattern_is_cut_off_and_reported(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    fact_definition_create(
        account=tenant.account, actor=tenant.admin, inbox=inbox, key="code", label="Code", pattern="(a|aa)+$"
    )
    message = inbound(tenant.account, inbox, "+15550101010", "a" * 40 + "!  my name is Dana Whitfield")
    assert analyze_message.run(tenant.account.pk, message.pk) == "analyzed"  # done, not held for a minute
    assert not Fact.objects.filter(key="code").exists()
    assert Fact.objects.filter(key="name").exists()  # the other facts of the message are kept
    [report] = AuditLog.objects.filter(action="fact_definition.pattern_timeout")
    assert report.data["key"] == "code" and "Simplify the pattern" in report.data["reason"]
    again = inbound(tenant.account, inbox, "+15550101010", "a" * 40 + "!")
    analyze_message.run(tenant.account.pk, again.pk)
    assert AuditLog.objects.filter(action="fact_definition.pattern_timeout").count() == 1  # once an hour


def test_a_huge_message_is_read_by_a_bounded_prefix(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = LocalEngine.analyze

    def analyze(self: LocalEngine, text: str, **kwargs: Any) -> Any:
        seen.append(len(text))
        return real(self, text, **kwargs)

    monkeypatch.setattr(LocalEngine, "analyze", analyze)
    message = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550101011", "word " * 600_000)
    assert analyze_message.run(tenant.account.pk, message.pk) == "analyzed"
    assert seen == [ANALYSIS_MAX_CHARS]


def test_messages_never_analyzed_are_picked_up(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = InboxFactory(account=tenant.account)
    lost = inbound(tenant.account, inbox, "+15550101012", "Is my order shipped?")
    done = inbound(tenant.account, inbox, "+15550101013", "Thanks!")
    machine = inbound(tenant.account, inbox, "+15550101014", "Out of office", metadata={"automated": "X-Autoreply"})
    fresh = inbound(tenant.account, inbox, "+15550101015", "Hello?")
    analyze_message.run(tenant.account.pk, done.pk)
    Message.objects.filter(pk__in=[lost.pk, done.pk, machine.pk]).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(analyze_message, "delay", lambda *args: queued.append(args))
    assert sweep_unanalyzed.run() == 1
    assert queued == [(tenant.account.pk, lost.pk)]
    assert fresh.pk not in [m for _a, m in queued]


@pytest.mark.django_db(transaction=True)
def test_a_broker_failure_after_commit_never_fails_the_event(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from channels_app.models import InboundEvent
    from channels_app.tasks import process_inbound_event
    from tests.channels_app.test_twilio import fixture, post, sms_endpoint

    endpoint = sms_endpoint(tenant, settings)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Error 111 connecting to redis. Connection refused.")

    monkeypatch.setattr(ai_agent.tasks.analyze_message, "delay", broker_down)
    monkeypatch.setattr(process_inbound_event, "apply_async", broker_down)
    post(endpoint, "messaging", fixture("sms_inbound"))
    event = InboundEvent.objects.get()
    assert process_inbound_event.run(event.pk) == "processed"  # the after-commit enqueue failed, logged only
    event.refresh_from_db()
    assert event.status == "processed" and Message.objects.count() == 1

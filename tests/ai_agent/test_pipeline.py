"""The AI pipeline: analysis into memory, debounced notes, and the whole path with a real Celery worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from ai_agent.tasks import analyze_message, refresh_note, schedule_note_refresh
from inbox.services import inbox_member_add
from memory.models import AiNote, Fact, SentimentReading
from memory.services import fact_confirm, fact_definition_create, fact_set
from tests.conftest import Tenant, wait_until
from tests.factories import InboxFactory, inbound


@pytest.fixture
def support(tenant: Tenant) -> Any:
    inbox = InboxFactory(account=tenant.account, name="Support")
    inbox_member_add(account=tenant.account, actor=None, inbox=inbox, user=tenant.agent)
    fact_definition_create(
        account=tenant.account,
        actor=tenant.admin,
        inbox=inbox,
        key="policy_number",
        label="Policy number",
        pattern=r"PN-\d{4,8}",
        required_before_handoff=True,
    )
    return inbox


@pytest.mark.django_db
def test_analysis_writes_memory_once(tenant: Tenant, support: Any) -> None:
    message = inbound(
        tenant.account,
        support,
        "visitor-1",
        "Rosa Diaz, 312 555 0188, my basement is flooding",
        kind="webchat",
        channel="webchat",
    )
    assert analyze_message.run(tenant.account.pk, message.pk) == "analyzed"
    assert analyze_message.run(tenant.account.pk, message.pk) == "already analyzed"
    reading = SentimentReading.objects.get(message=message)
    assert reading.label == "negative" and reading.engine == "local/1"
    values = dict(Fact.objects.filter(contact=message.contact, status="active").values_list("key", "value"))
    assert values == {"name": "Rosa Diaz", "phone": "+13125550188"}
    # A number read from a message is the customer's claim: it routes nothing until a person confirms it.
    assert not message.contact.identities.filter(kind="phone").exists()
    phone = Fact.objects.get(contact=message.contact, key="phone")
    fact_confirm(account=tenant.account, actor=tenant.agent, fact=phone)
    assert message.contact.identities.filter(kind="phone", value="+13125550188").exists()
    message.contact.refresh_from_db()
    assert message.contact.name == "Rosa Diaz"  # the learned name names the (nameless) webchat visitor
    assert analyze_message.run(tenant.account.pk, 999_999) == "gone"


@pytest.mark.django_db
def test_the_ai_does_not_overwrite_a_person(tenant: Tenant, support: Any) -> None:
    first = inbound(tenant.account, support, "+13125550188", "policy PN-1111")
    fact_set(
        account=tenant.account,
        actor=tenant.agent,
        contact=first.contact,
        inbox=support,
        key="policy_number",
        value="PN-2222",
    )
    later = inbound(tenant.account, support, "+13125550188", "as I said, policy PN-1111")
    analyze_message.run(tenant.account.pk, later.pk)
    assert Fact.objects.get(key="policy_number", status="active").value == "PN-2222"


@pytest.mark.django_db
def test_note_refresh_is_debounced_and_composed_from_memory(tenant: Tenant, support: Any, monkeypatch: Any) -> None:
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(refresh_note, "apply_async", lambda args, countdown: queued.append(args))
    message = inbound(tenant.account, support, "+13125550188", "My water heater is leaking, name is Rosa Diaz")
    cache.clear()
    for _ in range(5):  # a burst of messages
        schedule_note_refresh(account_id=tenant.account.pk, conversation_id=message.conversation_id)
    assert queued == [(tenant.account.pk, message.conversation_id)]
    analyze_message.run(tenant.account.pk, message.pk)
    assert refresh_note.run(tenant.account.pk, message.conversation_id) == "written"
    note = AiNote.objects.get(conversation_id=message.conversation_id, is_current=True)
    assert note.need == "My water heater is leaking, name is Rosa Diaz"
    assert "Name: Rosa Diaz" in note.status and "negative" in note.status
    assert note.next_step == "Ask for: Policy number."
    assert note.open_questions == ["What is the policy number?"]
    assert refresh_note.run(tenant.account.pk, message.conversation_id) == "unchanged"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_reads_new_messages_into_memory(celery_worker_process: Any, tenant: Tenant, support: Any) -> None:
    message = inbound(
        tenant.account,
        support,
        "visitor-9",
        "Hi, I'm Omar Haddad. The heating is broken, urgent!",
        kind="webchat",
        channel="webchat",
    )
    note = wait_until(
        lambda: AiNote.objects.filter(conversation_id=message.conversation_id, is_current=True).first(),
        timeout=30,
        what="the worker to write the conversation's note",
    )
    assert note.engine == "local/1" and "broken" in note.need
    assert SentimentReading.objects.get(message=message).label == "negative"
    assert Fact.objects.get(contact=message.contact, key="name").value == "Omar Haddad"

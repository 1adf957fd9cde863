"""The AI agent's turns: greet and ask one missing fact at a time, answer from the knowledge base, hand off by
its rules with a complete handoff, and stay quiet when it should."""

from __future__ import annotations

from typing import Any

import pytest

from ai_agent.engines.registry import engine_for
from ai_agent.models import AgentSettings, KnowledgeSnippet
from ai_agent.tasks import analyze_message, run_agent_turn
from inbox.models import Conversation, Message, Notification
from inbox.services import inbox_member_add
from memory.models import Handoff
from memory.services import fact_definition_create
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound, online

ALWAYS_OPEN: dict[str, list[list[str]]] = {}
NEVER_OPEN = {"mon": [["00:00", "00:01"]]}


@pytest.fixture
def support(tenant: Tenant) -> Any:
    inbox = InboxFactory(account=tenant.account, name="Support", business_hours=NEVER_OPEN)
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
    AgentSettings.objects.create(account=tenant.account, inbox=inbox, enabled=True, persona_name="Ava")
    online(tenant.account, tenant.agent)  # the agent's console is open: handoffs go round robin to them
    return inbox


def says(tenant: Tenant, inbox: Any, text: str, address: str = "visitor-7", **kwargs: Any) -> tuple[Message, str]:
    """A customer's message, analyzed and answered the way the worker does it."""
    message = inbound(
        tenant.account,
        inbox,
        address,
        text,
        kind=kwargs.pop("kind", "webchat"),
        channel=kwargs.pop("channel", "webchat"),
        **kwargs,
    )
    analyze_message.run(tenant.account.pk, message.pk)
    analysis = engine_for(tenant.account).analyze(text, definitions={}, region="US")
    decision = run_agent_turn.run(
        tenant.account.pk, message.pk, sorted(analysis.intents), analysis.urgent, analysis.sentiment
    )
    return message, decision


def ai_lines(message: Message) -> list[str]:
    return list(
        Message.objects.filter(conversation=message.conversation, sender_type="ai")
        .order_by("id")
        .values_list("body", flat=True)
    )


@pytest.mark.django_db
def test_greets_asks_one_thing_at_a_time_then_hands_off(tenant: Tenant, support: Any) -> None:
    first, decision = says(tenant, support, "Hi, the kitchen tap drips a little")
    assert decision == "ask"
    assert ai_lines(first) == [
        "Hi! I'm Ava, the virtual assistant of Support. I'll take your details so the team can pick this up "
        "without asking again. Could you tell me your policy number?"
    ]
    _second, decision = says(tenant, support, "Sure, it's PN-55321. I'm Rosa Diaz")
    assert decision == "handoff"
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.handled_by == "human" and conversation.assignee == tenant.agent
    assert ai_lines(first)[-1] == "Thanks, I've passed everything to the team. Someone will follow up when we open."
    handoff = Handoff.objects.get(conversation=conversation)
    assert handoff.reason == "All the details the team needs are collected."
    assert handoff.what_was_done["facts_collected"] == ["name", "policy_number"]
    assert len(handoff.what_was_done["questions_asked"]) == 1
    assert handoff.missing == [] and handoff.to_user == tenant.agent
    activity = Message.objects.filter(conversation=conversation, kind="activity").order_by("id").last()
    assert activity is not None
    assert (
        activity.body
        == f"AI agent handed off to {tenant.agent.display_name}: All the details the team needs are collected."
    )
    # a person owns it now: the AI stays quiet
    _, decision = says(tenant, support, "hello?")
    assert decision == "a person owns the conversation"


@pytest.mark.django_db
def test_asking_for_a_person_hands_off_at_once(
    tenant: Tenant, support: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from django.core import mail

    from inbox import events

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "_send", lambda account_id, inbox_id, event: published.append(event))
    with django_capture_on_commit_callbacks(execute=True):
        message, decision = says(tenant, support, "Can I talk to a real person please")
    notification = Notification.objects.get(kind="handoff")
    assert notification.user_id == tenant.agent.pk and "The customer asked for a person." in notification.text
    assert mail.outbox[-1].to == [tenant.agent.email]
    assert mail.outbox[-1].subject.endswith("handed to you by the AI agent")
    assert decision == "handoff"
    assert Handoff.objects.get(conversation_id=message.conversation_id).reason == "The customer asked for a person."


@pytest.mark.django_db
def test_answers_from_the_knowledge_base(tenant: Tenant, support: Any) -> None:
    KnowledgeSnippet.objects.create(
        account=tenant.account,
        inbox=support,
        question="What are your opening hours?",
        answer="We're open 8:00-18:00, Monday to Friday.",
    )
    says(tenant, support, "Hello")  # asks for the policy number first
    says(tenant, support, "PN-12345")
    conversation = Conversation.objects.get(inbox=support)
    conversation.handled_by = "ai"
    conversation.save()
    message, decision = says(tenant, support, "what are your opening hours on friday?")
    assert decision == "reply"
    assert ai_lines(message)[-1] == "We're open 8:00-18:00, Monday to Friday."


@pytest.mark.django_db
def test_stops_after_asking_without_progress(tenant: Tenant, support: Any) -> None:
    AgentSettings.objects.filter(inbox=support).update(max_turns_without_progress=2, handoff_on_unknown_question=False)
    decisions = [says(tenant, support, text)[1] for text in ("hi", "what?", "I don't know it", "hmm")]
    # asked once, never again; two messages without it, and a person takes over
    assert decisions == ["ask", "none", "handoff", "a person owns the conversation"]


@pytest.mark.django_db
def test_quiet_in_business_hours_when_set_to_after_hours_only(tenant: Tenant, support: Any) -> None:
    support.business_hours = ALWAYS_OPEN  # empty schedule: always open
    support.save()
    message, decision = says(tenant, support, "hi")
    # the team is in and the AI answers after hours only: the conversation is the team's from the start
    assert decision == "a person owns the conversation" and ai_lines(message) == []
    assert Conversation.objects.get(pk=message.conversation_id).handled_by == "human"


@pytest.mark.django_db
def test_quiet_when_the_conversation_was_resolved_before_its_turn(tenant: Tenant, support: Any) -> None:
    """A turn that runs late (a worker back after an outage) does not answer a conversation a person resolved."""
    message = inbound(tenant.account, support, "visitor-9", "Thanks, all sorted!", kind="webchat", channel="webchat")
    Conversation.objects.filter(pk=message.conversation_id).update(status="resolved")
    assert run_agent_turn.run(tenant.account.pk, message.pk, [], False, 0.5) == "none"
    assert ai_lines(message) == []


@pytest.mark.django_db
def test_settings_api(tenant: Tenant, support: Any) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{support.pk}/agent"
    assert tenant.client("agent").get(url).json()["persona_name"] == "Ava"
    assert tenant.client("agent").patch(url, {"enabled": False}, format="json").status_code == 403
    bad = tenant.client().patch(url, {"greeting": "Hi {name}"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["greeting"]
    changed = tenant.client().patch(url, {"answer_mode": "always", "handoff_below_sentiment": -0.3}, format="json")
    assert changed.status_code == 200 and changed.json()["answer_mode"] == "always"
    kb = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{support.pk}/knowledge"
    created = tenant.client().post(
        kb, {"question": "Do you work weekends?", "answer": "Saturdays 9-13."}, format="json"
    )
    assert created.status_code == 201
    assert tenant.client("agent").post(kb, {"question": "x", "answer": "y"}, format="json").status_code == 403
    assert [s["question"] for s in tenant.client("agent").get(kb).json()["results"]] == ["Do you work weekends?"]

"""Handoffs for the classes a support team expects (a person asked for in other words or other languages, a
safety hazard, a legal or bank threat, a long wait), and "ask once": the AI never asks for what the channel tells
(the number an SMS comes from, the address an email comes from)."""

from __future__ import annotations

from typing import Any

import pytest

from ai_agent.agent import agent_turn
from ai_agent.engines.local import LocalEngine
from ai_agent.models import AgentSettings
from inbox.models import Message
from memory.services import fact_definition_create
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

ENGINE = LocalEngine()


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("can you find me somebody useful", "asks_for_human"),
        ("I want an actual human", "asks_for_human"),
        ("put your manager on", "asks_for_human"),
        ("quiero hablar con una persona", "asks_for_human"),
        ("je veux parler à un conseiller", "asks_for_human"),
        ("there is a gas smell in the kitchen", "safety"),
        ("the outlet is throwing sparks", "safety"),
        ("our carbon monoxide alarm keeps going off", "safety"),
        ("I'll do a chargeback with my bank", "threat"),
        ("my lawyer will hear about this", "threat"),
        ("I will leave a one star review", "threat"),
        ("still waiting for my refund after two weeks", "long_wait"),
        ("nobody has replied to my emails", "long_wait"),
    ],
)
def test_intents(text: str, intent: str) -> None:
    assert intent in ENGINE.analyze(text, definitions={}, region="US").intents


@pytest.mark.parametrize("text", ["thanks, we'll pass for now", "ok sure, please send the quote"])
def test_polite_words_are_not_a_handoff_class(text: str) -> None:
    intents = ENGINE.analyze(text, definitions={}, region="US").intents
    assert not intents & {"asks_for_human", "safety", "threat", "long_wait", "complaint"}


@pytest.mark.django_db
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_the_ai_never_asks_for_what_the_channel_tells(tenant: Tenant, channel: str) -> None:
    inbox = InboxFactory(account=tenant.account, name="Support")
    AgentSettings.objects.create(
        account=tenant.account, inbox=inbox, enabled=True, answer_mode="always", handoff_when_collected=False
    )
    for key in ("phone", "email"):
        fact_definition_create(
            account=tenant.account, actor=tenant.admin, inbox=inbox, key=key, label=key.title(),
            required_before_handoff=True, shared=True,
        )  # fmt: skip
    address = "+13125550188" if channel == "sms" else "rosa@example.org"
    kind = "phone" if channel == "sms" else "email"
    message = inbound(tenant.account, inbox, address, "hello, my heater is broken", kind=kind, channel=channel)
    analysis: Any = ENGINE.analyze(message.body, definitions={}, region="US")
    decision = agent_turn(account=tenant.account, message=message, analysis=analysis, engine=ENGINE)
    told = "phone" if channel == "sms" else "email"
    assert decision.action == "ask" and decision.key != told
    asked = Message.objects.filter(sender_type="ai").values_list("metadata__key", flat=True)
    assert told not in list(asked)


@pytest.mark.django_db
def test_a_call_with_no_words_adds_no_reading(tenant: Tenant) -> None:
    from ai_agent.tasks import analyze_message
    from memory.models import SentimentReading

    inbox = InboxFactory(account=tenant.account)
    ringing = inbound(tenant.account, inbox, "+13125550188", "", channel="voice")
    analyze_message.run(tenant.account.pk, ringing.pk)
    assert not SentimentReading.objects.filter(message=ringing).exists()


def test_a_calm_call_back_request_is_a_next_step_not_a_handoff_class() -> None:
    intents = ENGINE.analyze("Can someone call me back tomorrow? 415-555-0123", definitions={}, region="US").intents
    assert "callback" in intents and "asks_for_human" not in intents
    calm_money = ENGINE.analyze("I was charged twice on my last invoice", definitions={}, region="US").intents
    assert "billing_issue" in calm_money and "complaint" not in calm_money


@pytest.mark.parametrize(
    "text",
    ["Water is pouring through the kitchen ceiling!", "The basement pipe burst", "I can smell burning from the panel"],
)
def test_hazards_in_other_words(text: str) -> None:
    assert "safety" in ENGINE.analyze(text, definitions={}, region="US").intents


@pytest.mark.parametrize(
    "text", ["It's Thursday and still nobody has shown up", "I requested a quote 10 days ago and heard nothing",
             "I love your work, but the quote never came"],
)  # fmt: skip
def test_long_waits_in_other_words(text: str) -> None:
    assert "long_wait" in ENGINE.analyze(text, definitions={}, region="US").intents


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Could someone ring me back this afternoon about the maintenance plan?", "none"),  # a next step
        ("Would like to book a boiler service next week", "none"),
        ("Do you replace sewer lines as well?", "handoff"),  # a question the knowledge base does not cover
        ("I want an actual human please", "handoff"),
    ],
)
def test_an_inbox_that_requires_nothing_is_not_handed_off_as_collected(tenant: Tenant, text: str, action: str) -> None:
    """ "All required details collected" needs something required: a sales inbox that asks for nothing keeps a calm
    request with the AI (the note's next step says what to do), and still hands off what a person must answer."""
    inbox = InboxFactory(account=tenant.account, name="Sales")
    AgentSettings.objects.create(account=tenant.account, inbox=inbox, enabled=True, answer_mode="always")
    message = inbound(tenant.account, inbox, "+13125550188", text)
    analysis: Any = ENGINE.analyze(message.body, definitions={}, region="US")
    decision = agent_turn(account=tenant.account, message=message, analysis=analysis, engine=ENGINE)
    assert decision.action == action, decision.reason


@pytest.mark.django_db
def test_the_ai_asks_in_the_order_the_admins_added_the_details(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account, name="Installs")
    AgentSettings.objects.create(account=tenant.account, inbox=inbox, enabled=True, answer_mode="always")
    for key, label in (("service_address", "Service address"), ("model", "Make and model")):
        fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=inbox, key=key, label=label,
                               required_before_handoff=True)  # fmt: skip
    message = inbound(tenant.account, inbox, "+13125550188", "We'd like a quote for a new water heater")
    analysis: Any = ENGINE.analyze(message.body, definitions={}, region="US")
    decision = agent_turn(account=tenant.account, message=message, analysis=analysis, engine=ENGINE)
    assert (decision.action, decision.key) == ("ask", "service_address")


@pytest.mark.parametrize(
    ("text", "urgent"),
    [("Not urgent, but the radiator is noisy at night", False), ("No es urgente, pero gotea", False),
     ("Urgent: no heat since last night", True)],
)  # fmt: skip
def test_urgency_the_customer_denies_is_not_urgency(text: str, urgent: bool) -> None:
    assert ("urgent" in ENGINE.analyze(text, definitions={}, region="US").intents) is urgent


def test_a_bare_follow_up_is_a_wait() -> None:
    assert "long_wait" in ENGINE.analyze("???", definitions={}, region="US").intents
    assert "long_wait" not in ENGINE.analyze("Hello?", definitions={}, region="US").intents

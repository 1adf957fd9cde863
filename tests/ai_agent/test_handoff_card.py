"""The handoff card tells the truth about the thread: its counts of questions asked and replies sent are the
conversation's own, however long it is (recall holds only the latest messages)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ai_agent.agent import QUESTIONS_LISTED, agent_turn
from ai_agent.engines.local import LocalEngine
from ai_agent.models import AgentSettings
from inbox.models import Message
from inbox.services import send_message
from memory.models import Handoff
from memory.selectors import HISTORY_LIMIT
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db
ENGINE = LocalEngine()


def test_the_card_counts_match_a_long_thread(tenant: Tenant, client: object) -> None:
    support = InboxFactory(account=tenant.account, name="Support")
    AgentSettings.objects.create(account=tenant.account, inbox=support, enabled=True, answer_mode="always")
    first = inbound(tenant.account, support, "+15550107070", "Hello, a question about my order")
    conversation = first.conversation
    asks, replies = 12, HISTORY_LIMIT  # more messages than recall holds
    for n in range(asks):
        send_message(account=tenant.account, conversation=conversation, body=f"Question {n}?", sender_type="ai",
                     metadata={"ai_action": "ask"})  # fmt: skip
        inbound(tenant.account, support, "+15550107070", f"answer {n}")
    for n in range(replies):
        send_message(account=tenant.account, conversation=conversation, body=f"Reply {n}.", sender_type="ai",
                     metadata={"ai_action": "reply"})  # fmt: skip
    last = inbound(tenant.account, support, "+15550107070", "I want to talk to a real person now")
    decision = agent_turn(
        account=tenant.account, message=last, analysis=ENGINE.analyze(last.body, definitions={}, region="US"),
        engine=ENGINE,
    )  # fmt: skip
    assert decision.action == "handoff"
    done = Handoff.objects.get(conversation=conversation).what_was_done
    in_thread = Message.objects.filter(conversation=conversation, sender_type="ai", kind="message")
    assert done["questions_count"] == asks == in_thread.filter(metadata__ai_action="ask").count()
    assert done["questions_asked"] == [f"Question {n}?" for n in range(asks - QUESTIONS_LISTED, asks)]
    assert done["replies_sent"] == replies + 1 == in_thread.exclude(metadata__ai_action="ask").count()  # + handover
    client.force_login(tenant.admin)  # type: ignore[attr-defined]
    html = client.get(  # type: ignore[attr-defined]
        reverse("web:memory", kwargs={"account_id": tenant.account.pk, "conversation_id": conversation.pk})
    ).content.decode()
    assert f"{asks} questions asked; the latest {QUESTIONS_LISTED}:" in html
    assert f"{replies + 1} replies sent" in html

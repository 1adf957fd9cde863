"""After a handoff the conversation is owed a reply: escalated until a person writes, never nudged or resolved
by a "waiting on the customer" playbook, and the handover words tell the truth about what is still missing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ai_agent.agent import agent_turn
from ai_agent.engines.local import LocalEngine
from ai_agent.models import AgentSettings, Playbook
from ai_agent.playbooks import run_playbooks
from inbox.models import Conversation, Message
from inbox.services import inbox_member_add, send_message
from tests.conftest import Tenant
from tests.factories import InboxFactory, define_policy_number, inbound

pytestmark = pytest.mark.django_db
ENGINE = LocalEngine()


def test_a_handed_off_conversation_is_owed_a_reply(tenant: Tenant) -> None:
    support = InboxFactory(account=tenant.account, name="Support")
    inbox_member_add(account=tenant.account, actor=None, inbox=support, user=tenant.agent)
    define_policy_number(tenant.account, tenant.admin, support)
    AgentSettings.objects.create(account=tenant.account, inbox=support, enabled=True, answer_mode="always")
    Playbook.objects.create(
        account=tenant.account, inbox=support, name="Close", trigger="waiting", after_minutes=60, action="resolve"
    )
    start = timezone.now()
    urgent = inbound(tenant.account, support, "+15550104040", "There's a gas smell in the basement!", received_at=start)
    decision = agent_turn(
        account=tenant.account, message=urgent, analysis=ENGINE.analyze(urgent.body, definitions={}, region="US"),
        engine=ENGINE,
    )  # fmt: skip
    assert decision.action == "handoff"
    conversation = Conversation.objects.get(pk=urgent.conversation_id)
    assert (conversation.status, conversation.handled_by) == ("escalated", "human")
    goodbye = Message.objects.filter(conversation=conversation, sender_type="ai").latest("id").body
    assert "all the details" not in goodbye and "policy number" in goodbye  # says what is still missing
    from ai_agent.tasks import refresh_note

    refresh_note.run(tenant.account.pk, conversation.pk)
    note = conversation.ai_notes.get(is_current=True)
    assert note.next_step == "A person owes the customer the next reply; still needed: Policy number."
    assert run_playbooks(now=start + timedelta(hours=5)) == 0  # nobody resolves what a person owes
    assert Conversation.objects.get(pk=conversation.pk).status == "escalated"
    send_message(account=tenant.account, conversation=conversation, body="On my way.", sender_user=tenant.agent)
    assert Conversation.objects.get(pk=conversation.pk).status == "waiting"  # the person answered

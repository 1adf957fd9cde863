"""Playbooks: due steps run once per wait, a customer's reply pauses them, each step is logged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from ai_agent.models import Playbook
from ai_agent.playbooks import run_playbooks
from inbox.models import Conversation, Message, Notification
from inbox.services import conversation_set_status, conversation_take_over, inbox_member_add, send_message
from memory.services import handoff_record
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(tenant: Tenant) -> Any:
    inbox = InboxFactory(account=tenant.account, name="Support")
    inbox_member_add(account=tenant.account, actor=None, inbox=inbox, user=tenant.agent)
    return inbox


def playbook(tenant: Tenant, inbox: Any, **values: Any) -> Playbook:
    return Playbook.objects.create(account=tenant.account, inbox=inbox, **values)


def test_waiting_reminder_then_resolve_and_a_reply_pauses(
    tenant: Tenant, support: Any, django_capture_on_commit_callbacks: Any
) -> None:
    remind = playbook(
        tenant,
        support,
        name="Nudge after 24 h",
        trigger="waiting",
        after_minutes=24 * 60,
        action="remind",
        message="Just checking in: did that help?",
    )
    playbook(tenant, support, name="Close after 72 h", trigger="waiting", after_minutes=72 * 60, action="resolve")
    start = timezone.now()
    first = inbound(tenant.account, support, "+15550103030", "Is the part in stock?", received_at=start)
    send_message(
        account=tenant.account,
        conversation=first.conversation,
        body="Yes, shall I reserve it?",
        sender_user=tenant.agent,
    )
    assert run_playbooks(now=start + timedelta(hours=23)) == 0
    assert run_playbooks(now=start + timedelta(hours=25)) == 1
    assert run_playbooks(now=start + timedelta(hours=26)) == 0  # once per wait
    lines = list(Message.objects.filter(conversation=first.conversation).order_by("id").values_list("kind", "body"))
    assert lines[-2:] == [
        ("message", "Just checking in: did that help?"),
        ("activity", f"Playbook \u201c{remind.name}\u201d sent a reminder"),
    ]
    # the customer answers: the wait starts again, so nothing runs at the old deadlines
    inbound(tenant.account, support, "+15550103030", "Yes please", received_at=start + timedelta(hours=30))
    send_message(account=tenant.account, conversation=first.conversation, body="Reserved!", sender_user=tenant.agent)
    # at 73 h the old wait would have been closed; the new one (from 30 h) is only due its reminder
    assert run_playbooks(now=start + timedelta(hours=73)) == 1
    assert Conversation.objects.get(pk=first.conversation_id).status == "waiting"
    assert run_playbooks(now=start + timedelta(hours=30 + 73)) == 1  # then the new wait's 72 h step
    assert Conversation.objects.get(pk=first.conversation_id).status == "resolved"


def test_unanswered_handoff_escalates_and_notifies_admins(
    tenant: Tenant, support: Any, django_capture_on_commit_callbacks: Any
) -> None:
    playbook(tenant, support, name="Handoff SLA", trigger="handoff_unanswered", after_minutes=15, action="escalate")
    message = inbound(tenant.account, support, "+15550104040", "need help")
    conversation_take_over(account=tenant.account, actor=tenant.agent, conversation=message.conversation)
    handoff_record(
        account=tenant.account,
        conversation=message.conversation,
        reason="asked for a person",
        from_party="AI agent",
        engine="local/1",
        to_user=tenant.agent,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert run_playbooks(now=timezone.now() + timedelta(minutes=20)) == 1
    assert Conversation.objects.get(pk=message.conversation_id).status == "escalated"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [tenant.admin.email]
    assert run_playbooks(now=timezone.now() + timedelta(minutes=40)) == 0


def test_a_customer_message_without_an_answer_escalates_once_per_wait(
    tenant: Tenant, support: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A response-time target: the customer's latest message has no answer after 30 minutes; the owner and the
    admins hear of it once; an answer ends the wait, and the next unanswered message starts a new one."""
    playbook(tenant, support, name="Reply SLA", trigger="customer_unanswered", after_minutes=30, action="escalate")
    message = inbound(tenant.account, support, "+15550107070", "is anyone there?")
    conversation = message.conversation
    conversation_take_over(account=tenant.account, actor=tenant.agent, conversation=conversation)
    assert run_playbooks(now=timezone.now() + timedelta(minutes=20)) == 0  # not yet
    with django_capture_on_commit_callbacks(execute=True):
        assert run_playbooks(now=timezone.now() + timedelta(minutes=31)) == 1
    assert Conversation.objects.get(pk=conversation.pk).status == "escalated"
    notes = Notification.objects.filter(kind="escalation", conversation=conversation)
    assert {n.user_id for n in notes} == {tenant.admin.pk, tenant.agent.pk}
    assert "the customer's message has no answer (Reply SLA)" in notes.first().text  # type: ignore[union-attr]
    assert run_playbooks(now=timezone.now() + timedelta(minutes=60)) == 0  # once per wait


def test_an_answered_customer_is_not_escalated(tenant: Tenant, support: Any) -> None:
    playbook(tenant, support, name="Reply SLA", trigger="customer_unanswered", after_minutes=30, action="escalate")
    message = inbound(tenant.account, support, "+15550108080", "hello?")
    conversation_take_over(account=tenant.account, actor=tenant.agent, conversation=message.conversation)
    send_message(account=tenant.account, conversation=message.conversation, body="Hi!", sender_user=tenant.agent)
    assert run_playbooks(now=timezone.now() + timedelta(minutes=40)) == 0


def test_a_waiting_customer_is_never_closed_by_a_playbook(tenant: Tenant, support: Any) -> None:
    client = APIClient()
    client.force_authenticate(tenant.admin)
    url = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{support.pk}/playbooks/"
    body = {"name": "x", "trigger": "customer_unanswered", "after_minutes": 30, "action": "resolve"}
    response = client.post(url, body, format="json")
    assert response.status_code == 400
    assert "never close it" in response.json()["error"]["fields"]["action"][0]


def test_a_picked_up_handoff_is_left_alone(tenant: Tenant, support: Any) -> None:
    playbook(tenant, support, name="Handoff SLA", trigger="handoff_unanswered", after_minutes=15, action="escalate")
    message = inbound(tenant.account, support, "+15550105050", "need help")
    conversation_take_over(account=tenant.account, actor=tenant.agent, conversation=message.conversation)
    handoff_record(account=tenant.account, conversation=message.conversation, reason="r", from_party="AI agent")
    send_message(account=tenant.account, conversation=message.conversation, body="On it!", sender_user=tenant.agent)
    assert run_playbooks(now=timezone.now() + timedelta(minutes=20)) == 0


def test_satisfaction_check_after_resolving(tenant: Tenant, support: Any) -> None:
    playbook(
        tenant,
        support,
        name="Next-day check",
        trigger="resolved",
        after_minutes=24 * 60,
        action="satisfaction",
        message="How did we do? Reply 1-5.",
    )
    message = inbound(tenant.account, support, "+15550106060", "fixed, thanks")
    conversation_set_status(
        account=tenant.account, actor=tenant.agent, conversation=message.conversation, status="resolved"
    )
    assert run_playbooks(now=timezone.now() + timedelta(hours=25)) == 1
    assert Message.objects.filter(conversation=message.conversation, body="How did we do? Reply 1-5.").exists()


def test_playbooks_api(tenant: Tenant, support: Any) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{support.pk}/playbooks"
    body = {"name": "Nudge", "trigger": "waiting", "after_minutes": 1440, "action": "remind"}
    missing = tenant.client().post(url, body, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["fields"] == {
        "message": ["Write the message this step sends."]
    }
    assert tenant.client("agent").post(url, {**body, "message": "Hi?"}, format="json").status_code == 403
    assert tenant.client().post(url, {**body, "message": "Hi?"}, format="json").status_code == 201
    assert [p["name"] for p in tenant.client("agent").get(url).json()["results"]] == ["Nudge"]

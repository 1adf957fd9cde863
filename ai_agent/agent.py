"""The AI agent's turn: after a customer's message in a conversation the AI owns, answer from the knowledge
base, ask for the next missing fact (one question at a time), or hand off to a person when a rule says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from inbox import events
from inbox.hours import is_open
from inbox.models import Conversation, Message
from inbox.services import conversation_hand_to_human, send_message
from memory.models import Fact
from memory.selectors import Recall, recall
from memory.services import handoff_record

from .engines.base import Analysis
from .models import AgentSettings, AnswerMode, Assignment
from .next_channel import next_best_channel
from .selectors import agent_settings_get, knowledge_answer, next_assignee


@dataclass(frozen=True)
class Decision:
    action: str  # "reply", "ask", "handoff" or "none"
    text: str = ""
    reason: str = ""
    key: str = ""  # the fact asked for


def _ai_messages(memory: Recall, conversation: Conversation) -> list[Message]:
    return [m for m in memory.history if m.conversation_id == conversation.pk and m.sender_type == "ai"]


def decide(
    *,
    memory: Recall,
    conversation: Conversation,
    analysis: Analysis,
    settings: AgentSettings,
    text: str,
    knowledge: str | None,
    at: datetime,
) -> Decision:
    """What the agent does now. Pure: reads memory and settings, writes nothing."""
    if conversation.handled_by != "ai" or not settings.enabled or settings.answer_mode == AnswerMode.NEVER:
        return Decision("none", reason="the AI agent is not answering this conversation")
    if conversation.status == "resolved":  # resolved after the customer wrote (a new message would reopen it)
        return Decision("none", reason="the conversation was resolved: nothing to answer")
    if settings.answer_mode == AnswerMode.AFTER_HOURS and is_open(
        memory.inbox.business_hours, memory.inbox.timezone, at
    ):
        return Decision("none", reason="the team is in: the AI answers outside business hours only")
    trend = memory.conversation_sentiment
    if settings.handoff_on_request and "asks_for_human" in analysis.intents:
        return Decision("handoff", reason="The customer asked for a person.")
    if settings.handoff_on_request and "cancel" in analysis.intents:
        return Decision("handoff", reason="The customer wants to cancel: a person should talk to them.")
    if settings.handoff_on_urgent and (analysis.urgent or trend.urgent):
        return Decision("handoff", reason="The customer's issue is urgent or they are frustrated.")
    if settings.handoff_on_urgent and "complaint" in analysis.intents:
        return Decision("handoff", reason="The customer is complaining: a person should answer.")
    if trend.mean is not None and trend.mean < settings.handoff_below_sentiment:
        return Decision("handoff", reason=f"The customer's mood fell below {settings.handoff_below_sentiment}.")

    if knowledge:  # a question the knowledge base answers is answered first; details can follow
        return Decision("reply", text=knowledge)
    ai_turns = _ai_messages(memory, conversation)
    asked = [m.metadata.get("key") for m in ai_turns if m.metadata.get("ai_action") == "ask"]
    missing = [key for key in memory.missing if key in memory.definitions]
    if missing:
        key = missing[0]
        if asked[-settings.max_turns_without_progress :].count(key) >= settings.max_turns_without_progress:
            return Decision("handoff", reason=f"No progress after {settings.max_turns_without_progress} questions.")
        label = memory.definitions[key].label.lower()
        question = f"Could you tell me your {label}?"
        if not ai_turns:  # the first turn: greet, then the first question
            greeting = settings.greeting.format(persona=settings.persona_name, inbox=memory.inbox.name)
            question = f"{greeting} {question}"
        return Decision("ask", text=question, key=key)
    if settings.handoff_on_unknown_question and "?" in text:
        return Decision("handoff", reason="The customer asked something the knowledge base does not cover.")
    if settings.handoff_when_collected:
        return Decision("handoff", reason="All the details the team needs are collected.")
    return Decision("none", reason="nothing to add")


@transaction.atomic
def agent_turn(*, account: Account, message: Message, analysis: Analysis, engine_name: str) -> Decision:
    """Run one turn for the customer's `message` and carry out the decision."""
    conversation = Conversation.objects.select_related("inbox", "contact").get(pk=message.conversation_id)
    settings = agent_settings_get(account=account, inbox=conversation.inbox)
    memory = recall(account=account, contact=conversation.contact, inbox=conversation.inbox)
    snippet = knowledge_answer(account=account, inbox=conversation.inbox, text=message.body)
    now = timezone.now()
    decision = decide(
        memory=memory,
        conversation=conversation,
        analysis=analysis,
        settings=settings,
        text=message.body,
        knowledge=snippet.answer if snippet else None,
        at=now,
    )
    meta = {"in_reply_to": message.pk, "engine": engine_name}
    if decision.action == "ask":
        send_message(
            account=account,
            conversation=conversation,
            body=decision.text,
            sender_type="ai",
            channel=_reply_channel(message),
            metadata={**meta, "ai_action": "ask", "key": decision.key},
        )
    elif decision.action == "reply":
        send_message(
            account=account,
            conversation=conversation,
            body=decision.text,
            sender_type="ai",
            channel=_reply_channel(message),
            metadata={**meta, "ai_action": "reply", "snippet": snippet.pk if snippet else None},
        )
    elif decision.action == "handoff":
        _hand_off(account, conversation, settings, memory, message, decision, engine_name, now)
    return decision


def _hand_off(
    account: Account,
    conversation: Conversation,
    settings: AgentSettings,
    memory: Recall,
    message: Message,
    decision: Decision,
    engine_name: str,
    now: datetime,
) -> None:
    settings = AgentSettings.objects.select_for_update().get(pk=settings.pk)
    assignee = None
    if settings.assignment == Assignment.ROUND_ROBIN:
        assignee = next_assignee(account=account, inbox=conversation.inbox, after=settings.last_assigned_id)
        if assignee is not None:
            settings.last_assigned = assignee
            settings.save(update_fields=["last_assigned"])
    open_now = is_open(conversation.inbox.business_hours, conversation.inbox.timezone, now)
    goodbye = settings.handoff_message if open_now else settings.after_hours_message
    send_message(
        account=account,
        conversation=conversation,
        body=goodbye,
        sender_type="ai",
        channel=_reply_channel(message),
        metadata={"in_reply_to": message.pk, "engine": engine_name, "ai_action": "handoff"},
    )
    ai_turns = _ai_messages(memory, conversation)
    collected = sorted(
        Fact.objects.filter(account=account, conversation=conversation, author_type="ai", status="active").values_list(
            "key", flat=True
        )
    )
    handoff_record(
        account=account,
        conversation=conversation,
        reason=decision.reason,
        from_party="AI agent",
        engine=engine_name,
        to_user=assignee,
        what_was_done={
            "questions_asked": [m.body for m in ai_turns if m.metadata.get("ai_action") == "ask"],
            "facts_collected": collected,
            "replies_sent": sum(1 for m in ai_turns if m.metadata.get("ai_action") == "reply") + 1,
            "actions": ["handed off" + (f" to {assignee.display_name}" if assignee else " (unassigned)")],
        },
        missing=[memory.definitions[k].label for k in memory.missing if k in memory.definitions],
        suggested_next_step=_next_step(memory, decision),
        suggested_channel=next_best_channel(memory, now=now).channel,
    )
    who = assignee.display_name if assignee is not None else "the team"
    conversation_hand_to_human(
        account=account,
        conversation=conversation,
        assignee=assignee,
        text=f"AI agent handed off to {who}: {decision.reason}",
    )
    _notify(account, conversation, assignee, decision.reason)


def _reply_channel(message: Message) -> str:
    """The AI writes back on the customer's channel; a caller's voicemail or words are answered by text."""
    return "sms" if message.channel == "voice" else message.channel


def _next_step(memory: Recall, decision: Decision) -> str:
    if memory.missing:
        labels = ", ".join(memory.definitions[k].label for k in memory.missing if k in memory.definitions)
        return f"Ask for what is still missing ({labels}), then help the customer."
    if decision.reason.startswith("The customer's issue is urgent"):
        return "Call the customer now; everything needed is in the facts."
    return "Reply to the customer's last message; the details are in the facts."


def _notify(account: Account, conversation: Conversation, assignee: Any, reason: str) -> None:
    """Tell the people who now own the conversation: a live notification in the inbox's consoles, and an email
    to the assignee (after commit)."""
    text = f"Conversation #{conversation.number} in {conversation.inbox.name} was handed to "
    text += f"{assignee.display_name}: {reason}" if assignee is not None else f"the team: {reason}"
    events.publish(
        account.pk,
        conversation.inbox_id,
        "notification",
        {"conversation_id": conversation.pk, "assignee_id": assignee.pk if assignee else None, "text": text},
    )
    if assignee is not None:
        subject = f"#{conversation.number} handed to you by the AI agent"
        body = f"{text}\n\nThe handoff, the AI's note and the customer's facts are on the conversation."
        transaction.on_commit(
            lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [assignee.email], fail_silently=True)
        )

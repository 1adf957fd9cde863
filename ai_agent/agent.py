"""The AI agent's turn: after a customer's message in a conversation the AI owns, answer from the knowledge
base, ask for the next missing fact (one question at a time), or hand off to a person when a rule says so."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from inbox.hours import is_open
from inbox.models import Conversation, Message, NotificationKind
from inbox.notifications import inbox_people, notify
from inbox.routing import next_assignee
from inbox.services import conversation_hand_to_human, send_message
from memory.models import Fact
from memory.selectors import Recall, merge_suggestions, recall
from memory.services import fact_renew, handoff_record

from .engines.base import Analysis, Decision, Engine, TurnContext
from .engines.registry import engine_for
from .models import AgentSettings, Assignment
from .next_channel import next_best_channel
from .selectors import agent_settings_get, knowledge_answer


@transaction.atomic
def agent_turn(*, account: Account, message: Message, analysis: Analysis, engine: Engine | None = None) -> Decision:
    """Run one turn for the customer's `message` with the account's engine, and carry out its decision."""
    engine = engine or engine_for(account)
    engine_name = engine.name
    conversation = Conversation.objects.select_related("inbox", "contact").get(pk=message.conversation_id)
    settings = agent_settings_get(account=account, inbox=conversation.inbox)
    memory = recall(account=account, contact=conversation.contact, inbox=conversation.inbox)
    snippet = knowledge_answer(account=account, inbox=conversation.inbox, text=message.body)
    now = timezone.now()
    decision = engine.decide(
        TurnContext(
            memory=memory,
            conversation=conversation,
            analysis=analysis,
            settings=settings,
            text=message.body,
            knowledge=snippet.answer if snippet else None,
            at=now,
        )
    )
    if decision.action in {"ask", "reply"}:
        decision = _same_person_check(account, conversation) or decision
    meta = {"in_reply_to": message.pk, "engine": engine_name, "persona": settings.persona_name}
    _renew_confirmed(account, conversation, memory, message, analysis)
    if decision.action == "ask":
        send_message(
            account=account,
            conversation=conversation,
            body=decision.text,
            sender_type="ai",
            channel=_reply_channel(message),
            metadata={
                **meta,
                "ai_action": "ask",
                "key": decision.key,
                **({"confirm": True} if decision.confirm else {}),
            },
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
        _hand_off(account, conversation, settings, memory, message, decision, engine, now)
    return decision


_YES = re.compile(
    r"^\W*(yes|yep|yeah|yup|correct|that'?s (right|correct)|still (right|correct|the same)|right|exactly|"
    r"s[ií]|claro|correcto|oui|exact|c'est ([cç]a|bien [cç]a))\b",
    re.IGNORECASE,
)


def _renew_confirmed(
    account: Account, conversation: Conversation, memory: Recall, message: Message, analysis: Analysis
) -> None:
    """The customer answered "yes" to the AI's "is <value> still your <label>?": the value holds again."""
    before = (message.created_at, message.pk)
    earlier = [m for m in memory.history if m.conversation_id == conversation.pk and (m.created_at, m.pk) < before]
    asked = next((m for m in reversed(earlier) if m.sender_type == "ai"), None)
    if asked is None or not asked.metadata.get("confirm") or not _YES.match(message.body or ""):
        return
    key = asked.metadata.get("key")
    if any(f.key == key for f in analysis.facts):  # they gave a value: it was recorded as the new one
        return
    fact = next((f for f in memory.facts if f.key == key), None)
    if fact is not None:
        fact_renew(account=account, fact=fact, source_message=message)


def _same_person_check(account: Account, conversation: Conversation) -> Decision | None:
    """The customer writes from an address another customer record said was theirs: probably one person, but only a
    person may join them. Until then the AI neither asks this record again for what the other already told, nor
    answers as if it knew them: it hands the conversation to the team with the match."""
    for suggestion in merge_suggestions(account=account, contact=conversation.contact):
        if suggestion.claimed_by_other:
            who = suggestion.contact.name or "another customer"
            return Decision(
                "handoff",
                reason=(
                    f"Probably {who}, who gave {suggestion.value} as their {suggestion.key} before: check and merge "
                    "the two records to continue in one conversation."
                ),
            )
    return None


def _hand_off(
    account: Account,
    conversation: Conversation,
    settings: AgentSettings,
    memory: Recall,
    message: Message,
    decision: Decision,
    engine: Engine,
    now: datetime,
) -> None:
    engine_name = engine.name
    settings = AgentSettings.objects.select_for_update().get(pk=settings.pk)
    assignee = None
    if settings.assignment == Assignment.ROUND_ROBIN:
        # the inbox's routing: round robin among the members online with room (nobody: Unassigned, and the backlog
        # is handed out when someone comes online)
        assignee = next_assignee(account, conversation.inbox)
    open_now = is_open(conversation.inbox.business_hours, conversation.inbox.timezone, now)
    goodbye = settings.handoff_message if open_now else settings.after_hours_message
    missing = [memory.definitions[k].label.lower() for k in memory.missing if k in memory.definitions]
    if missing:  # never "the team has all the details" when it has not: say what they will still ask
        still = ", ".join(missing)
        goodbye = (
            f"Thanks! I'm handing you over to a member of the team, who will still need your {still}."
            if open_now
            else f"Thanks, I've passed this to the team. Someone will follow up when we open and ask for your {still}."
        )
    send_message(
        account=account,
        conversation=conversation,
        body=goodbye,
        sender_type="ai",
        channel=_reply_channel(message),
        metadata={
            "in_reply_to": message.pk,
            "engine": engine_name,
            "persona": settings.persona_name,
            "ai_action": "handoff",
        },
    )
    # Counted over the whole conversation (recall holds only the latest messages): the card matches the thread.
    ai_turns = list(
        Message.objects.filter(account=account, conversation=conversation, sender_type="ai", kind="message")
        .order_by("created_at", "id")
        .values_list("body", "metadata")
    )
    questions = [body for body, meta in ai_turns if (meta or {}).get("ai_action") == "ask"]
    draft = engine.compose_handoff(memory, reason=decision.reason)
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
        engine=draft.engine or engine_name,
        to_user=assignee,
        what_was_done={
            "questions_asked": questions[-QUESTIONS_LISTED:],
            "questions_count": len(questions),
            "facts_collected": collected,
            # every other message the AI wrote in this conversation, its handover words included
            "replies_sent": len(ai_turns) - len(questions),
            "actions": ["handed off" + (f" to {assignee.display_name}" if assignee else " (unassigned)")],
            "summary": draft.summary,
        },
        missing=[memory.definitions[k].label for k in memory.missing if k in memory.definitions],
        suggested_next_step=draft.next_step,
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


QUESTIONS_LISTED = 10  # the card lists the latest questions; the count covers all


def _reply_channel(message: Message) -> str:
    """The AI writes back on the customer's channel; a caller's voicemail or words are answered by text."""
    return "sms" if message.channel == "voice" else message.channel


def _notify(account: Account, conversation: Conversation, assignee: Any, reason: str) -> None:
    """Tell the people who now own the conversation: a notification to the assignee (to everyone who sees the inbox
    when nobody has it yet), and an email to the assignee (after commit)."""
    text = f"#{conversation.number} in {conversation.inbox.name} was handed to "
    text += f"{assignee.display_name}: {reason}" if assignee is not None else f"the team: {reason}"
    people = [assignee.pk] if assignee is not None else inbox_people(account, conversation.inbox_id)
    notify(account=account, user_ids=people, kind=NotificationKind.HANDOFF, conversation=conversation, text=text)
    if assignee is not None:
        subject = f"#{conversation.number} handed to you by the AI agent"
        mail_body = f"{text}\n\nThe handoff, the AI's note and the customer's facts are on the conversation."
        transaction.on_commit(
            lambda: send_mail(subject, mail_body, settings.DEFAULT_FROM_EMAIL, [assignee.email], fail_silently=True)
        )

"""The agent's rules: what it does after a customer's message (answer from the knowledge base, ask the next
missing fact, hand off, or stay quiet). Admins configure these rules per inbox; every engine applies them the
same way, so whether the AI hands off never depends on which engine runs (an LLM only phrases what is said)."""

from __future__ import annotations

from datetime import datetime

from inbox.hours import is_open
from inbox.models import Conversation, Message
from memory.selectors import Recall

from ..models import AgentSettings, AnswerMode
from .base import Analysis, Decision


def ai_messages(memory: Recall, conversation: Conversation) -> list[Message]:
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
    if "safety" in analysis.intents:  # not a setting: a danger to people is never left to the AI
        return Decision("handoff", reason="The customer describes a safety hazard: a person now.")
    if "threat" in analysis.intents:
        return Decision("handoff", reason="The customer mentions legal, bank or public action: a person should answer.")
    if settings.handoff_on_urgent and "complaint" in analysis.intents:
        return Decision("handoff", reason="The customer is complaining: a person should answer.")
    if settings.handoff_on_urgent and "long_wait" in analysis.intents:
        return Decision("handoff", reason="The customer has waited too long: a person should answer.")
    if trend.mean is not None and trend.mean <= settings.handoff_below_sentiment:  # the boundary included
        return Decision("handoff", reason=f"The customer's mood fell below {settings.handoff_below_sentiment}.")

    if knowledge:  # a question the knowledge base answers is answered first; details can follow
        return Decision("reply", text=knowledge)
    ai_turns = ai_messages(memory, conversation)
    asked = [m.metadata.get("key") for m in ai_turns if m.metadata.get("ai_action") == "ask"]
    # Ask once: a detail already asked for in this conversation is not asked again (the customer saw the question;
    # "I don't have it with me" or another topic is an answer too). The note and a handoff say what is missing.
    still_missing = [key for key in memory.missing if key in memory.definitions]
    missing = [key for key in still_missing if key not in asked]
    # Customer messages since the AI first asked for a detail it still lacks: that many turns without progress
    # hand the conversation to a person (who can ask differently), rather than the AI asking again.
    first_open_ask = next(
        (m for m in ai_turns if m.metadata.get("ai_action") == "ask" and m.metadata.get("key") in still_missing), None
    )
    if first_open_ask is not None:
        since = [
            m for m in memory.history
            if m.conversation_id == conversation.pk and m.direction == "in" and m.kind == "message"
            and (m.created_at, m.pk) > (first_open_ask.created_at, first_open_ask.pk)
        ]  # fmt: skip
        if len(since) >= settings.max_turns_without_progress:
            return Decision("handoff", reason=f"No progress after {settings.max_turns_without_progress} messages.")
    if missing:
        key = missing[0]
        label = memory.definitions[key].label.lower()
        question = f"Could you tell me your {label}?"
        if not ai_turns:  # the first turn: greet, then the first question
            greeting = settings.greeting.format(persona=settings.persona_name, inbox=memory.inbox.name)
            question = f"{greeting} {question}"
        return Decision("ask", text=question, key=key)
    # A detail past its shelf life (an address from two years ago): confirm it once rather than ask from scratch
    # or trust it blindly; "yes" renews it (ai_agent.agent), a new value replaces it.
    confirmed = {m.metadata.get("key") for m in ai_turns if m.metadata.get("confirm")}
    confirm = [key for key in memory.stale if key in memory.definitions and key not in confirmed]
    if confirm and not any(f.key == confirm[0] for f in analysis.facts):
        key = confirm[0]
        label = memory.definitions[key].label.lower()
        question = f"Is {memory.fact_values[key]} still your {label}?"
        if not ai_turns:
            greeting = settings.greeting.format(persona=settings.persona_name, inbox=memory.inbox.name)
            question = f"{greeting} {question}"
        return Decision("ask", text=question, key=key, confirm=True)
    if "decline" in analysis.intents and not analysis.urgent:
        return Decision("none", reason="The customer declined politely: nothing for a person to do.")
    # a question the knowledge base does not cover; "could someone call me back?" is a request (the note's next step)
    if settings.handoff_on_unknown_question and "?" in text and "callback" not in analysis.intents:
        return Decision("handoff", reason="The customer asked something the knowledge base does not cover.")
    # Collected: only an inbox that asks for details has a moment when they are all collected. An inbox that
    # requires nothing (a sales inbox answering "would like to book", "call me back") is not handed off by this
    # rule on every message; a person still picks up through the rules above and the note's next step.
    requires = any(d.required_before_handoff for d in memory.definitions.values())
    if settings.handoff_when_collected and requires and not still_missing:
        return Decision("handoff", reason="All the details the team needs are collected.")
    return Decision("none", reason="nothing to add")

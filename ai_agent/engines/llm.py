"""The LLM engine: any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp
server) through the official `openai` SDK, with JSON-schema structured outputs validated before anything is
used. When the call fails or the answer does not validate, the local engine's result is used instead and the
failure is recorded (AiUsage), so no analysis is ever lost. Prompts are built only from what they are given:
one message and the inbox's definitions, or a recall() of the conversation's inbox."""

from __future__ import annotations

import json
import logging
from typing import Any

import jsonschema
import openai

from accounts import outbound
from accounts.models import Account
from memory.definitions import Definition
from memory.selectors import Recall

from ..models import AiUsage
from . import rules
from .base import Analysis, Decision, ExtractedFact, HandoffDraft, NoteDraft, TurnContext
from .local import INTENT_PATTERNS, LocalEngine

logger = logging.getLogger(__name__)

NOTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["need", "status", "next_step", "open_questions"],
    "properties": {
        "need": {"type": "string", "maxLength": 600},
        "status": {"type": "string", "maxLength": 600},
        "next_step": {"type": "string", "maxLength": 400},
        "open_questions": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 5},
    },
}


HANDOFF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "next_step"],
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 900},
        "next_step": {"type": "string", "minLength": 1, "maxLength": 300},
    },
}

REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 700}},
}


def analysis_schema(keys: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["sentiment", "urgent", "intents", "facts"],
        "properties": {
            "sentiment": {"type": "number", "minimum": -1, "maximum": 1},
            "urgent": {"type": "boolean"},
            "intents": {"type": "array", "items": {"type": "string", "enum": sorted(INTENT_PATTERNS)}},
            "facts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "value", "confidence"],
                    "properties": {
                        "key": {"type": "string", "enum": keys},
                        "value": {"type": "string", "maxLength": 500},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            },
        },
    }


LLM_KIND_HINTS = {
    "date": "a date: give it as YYYY-MM-DD",
    "number": "a number: digits only",
    "money": "an amount of money: the amount and its currency as written",
    "address": "a street address: as written, number and street first",
    "phone": "a phone number: as written",
    "email": "an email address",
}


class ModelFailed(Exception):
    """The call gave nothing usable; the engine falls back to the local one."""


class InvalidOutput(ModelFailed):
    """The model answered, but not with what the schema asks for."""


class TooSlow(ModelFailed):
    """No answer within the call's whole deadline (retries included), however the server trickled it."""


class LLMEngine:
    def __init__(self, *, account: Account, base_url: str, model: str, api_key: str, timeout: float) -> None:
        self.account = account
        self.model = model
        self.name = f"llm/{model}"
        self.deadline = timeout * 2  # one call, its retries included (outbound.within)
        self.fallback = LocalEngine()
        # Conversation content goes to this address: its connections go through the outbound guard.
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "none",
            timeout=timeout,
            max_retries=2,
            http_client=outbound.httpx_client(timeout),
        )

    def _complete(self, *, purpose: str, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        """One structured call; records its usage; raises on any failure."""
        usage = AiUsage(account=self.account, engine=self.name, purpose=purpose, ok=False)
        try:
            try:
                with outbound.within(self.deadline, "The model's answer"):
                    response = self.client.chat.completions.create(
                        model=self.model,
                        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                        response_format={
                            "type": "json_schema",
                            "json_schema": {"name": purpose, "schema": schema, "strict": True},
                        },
                        temperature=0,
                    )
            except outbound.DeadlinePassed as exc:
                raise TooSlow(exc.reason) from exc
            if response.usage is not None:
                usage.prompt_tokens = response.usage.prompt_tokens or 0
                usage.completion_tokens = response.usage.completion_tokens or 0
            content = response.choices[0].message.content or ""
            try:
                data = json.loads(content)
                jsonschema.validate(data, schema)
            except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
                raise InvalidOutput(f"the model's answer does not match the schema: {str(exc)[:200]}") from exc
            usage.ok = True
            return dict(data)
        except (openai.APIError, ModelFailed) as exc:
            usage.error = f"{type(exc).__name__}: {exc}"[:500]
            logger.warning(
                "LLM %s failed for account %s (%s); using the local engine",
                purpose,
                self.account.pk,
                type(exc).__name__,
            )
            raise
        finally:
            usage.save()

    def analyze(self, text: str, *, definitions: dict[str, Definition], region: str) -> Analysis:
        keys = sorted(definitions)
        described = "\n".join(
            f"- {d.key}: {d.label}"
            + (f" (format: {d.pattern})" if d.pattern else "")
            + (f" ({LLM_KIND_HINTS[d.value_type]})" if d.value_type in LLM_KIND_HINTS else "")
            + (f" - {d.description}" if d.description else "")
            for d in definitions.values()
        )
        system = (
            "You read one message a customer sent to a small business. Return JSON only.\n"
            "sentiment: -1 (very negative) to 1 (very positive). urgent: true if it needs a person now.\n"
            f"intents: any of {', '.join(sorted(INTENT_PATTERNS))}.\n"
            f"facts: values the customer states for these keys only (omit what is not stated):\n{described}"
        )
        try:
            data = self._complete(purpose="analyze", system=system, user=text, schema=analysis_schema(keys))
        except (openai.APIError, ModelFailed):
            return self.fallback.analyze(text, definitions=definitions, region=region)
        return Analysis(
            sentiment=float(data["sentiment"]),
            urgent=bool(data["urgent"]),
            intents=set(data["intents"]),
            facts=[ExtractedFact(f["key"], f["value"], float(f["confidence"])) for f in data["facts"]],
            engine=self.name,
        )

    def compose_note(self, memory: Recall) -> NoteDraft:
        system = (
            f"You keep the working note of a customer conversation in the {memory.inbox.name} inbox "
            f"({memory.inbox.purpose or 'a small business team'}). Write what the customer needs, where it stands, "
            "the next step, and open questions. Use only the information given. Return JSON only."
        )
        user = self._context(memory)
        try:
            data = self._complete(purpose="note", system=system, user=user, schema=NOTE_SCHEMA)
        except (openai.APIError, ModelFailed):
            return self.fallback.compose_note(memory)
        return NoteDraft(
            data["need"], data["status"], data["next_step"], list(data["open_questions"]), engine=self.name
        )

    def _context(self, memory: Recall) -> str:
        """The conversation and what memory holds, from recall() of the conversation's inbox only."""
        conversation = memory.current_conversation
        thread = "\n".join(
            f"[{m.created_at:%Y-%m-%d %H:%M}] {m.get_sender_type_display()} via {m.channel}: {m.body}"
            for m in memory.history
            if conversation is not None and m.conversation_id == conversation.pk and m.kind == "message"
        )
        facts = "\n".join(f"- {f.key}: {f.value}" for f in memory.facts) or "- none"
        missing = ", ".join(memory.definitions[k].label for k in memory.missing if k in memory.definitions)
        trend = memory.conversation_sentiment
        return (
            f"Conversation:\n{thread or '(no messages)'}\n\nKnown facts:\n{facts}\n\n"
            f"Missing required details: {missing or 'none'}\n"
            f"Customer mood: {trend.label or 'unknown'}{' (frustrated)' if trend.urgent else ''}"
        )

    def compose_handoff(self, memory: Recall, *, reason: str) -> HandoffDraft:
        system = (
            f"A conversation in the {memory.inbox.name} inbox is being handed from the AI agent to a person. Write "
            "a short summary (who, what they need, what is known, how they feel) and the next step for the person. "
            "Use only the information given. Return JSON only."
        )
        user = f"{self._context(memory)}\n\nWhy it is handed off: {reason}"
        try:
            data = self._complete(purpose="handoff", system=system, user=user, schema=HANDOFF_SCHEMA)
        except (openai.APIError, ModelFailed):
            return self.fallback.compose_handoff(memory, reason=reason)
        return HandoffDraft(summary=data["summary"], next_step=data["next_step"], engine=self.name)

    def decide(self, turn: TurnContext) -> Decision:
        """The inbox's rules decide what happens (the same for every engine); the model only words a question or
        an answer, in the persona's voice, from the knowledge snippet when there is one."""
        decision = self.fallback.decide(turn)
        if decision.action not in ("ask", "reply"):
            return decision
        persona = turn.settings.persona_name
        if decision.action == "ask":
            label = turn.memory.definitions[decision.key].label if decision.key in turn.memory.definitions else ""
            task = f"Ask the customer, politely and in one short question, for their {label.lower()}."
        else:
            task = f"Answer the customer's last message using only this approved answer: {turn.knowledge}"
        first_turn = not rules.ai_messages(turn.memory, turn.conversation)
        system = (
            f"You are {persona}, the assistant of the {turn.memory.inbox.name} team. {task} "
            + ("Greet the customer first. " if first_turn else "")
            + "Do not promise anything else and do not ask for anything else. Return JSON only."
        )
        try:
            data = self._complete(purpose="reply", system=system, user=self._context(turn.memory), schema=REPLY_SCHEMA)
        except (openai.APIError, ModelFailed):
            return decision
        return Decision(decision.action, text=data["text"].strip(), reason=decision.reason, key=decision.key)

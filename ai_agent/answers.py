"""An answer to the AI's own question is a fact even without its label: asked for the service address, a
customer who writes "42 Elm Street, Springfield, IL 62704" has given it. Kinds with a parser are taken when the
parser accepts the whole answer; free text (a make and model, a description) when the answer is short, is not a
question, a refusal or "I don't know", and does not steer the conversation elsewhere (a request for a person, a
complaint)."""

from __future__ import annotations

import re

from accounts.errors import ServiceError
from inbox.models import Message
from memory.definitions import KIND_CLEANERS, Definition, date_clean

from .engines.base import ExtractedFact

ANSWERABLE_KINDS = {"number", "money", "address", "phone", "email", "date"}
MAX_ANSWER_CHARS = 300
MAX_TEXT_CHARS = 80
MAX_TEXT_WORDS = 10
# Intents that mean the message is about something else than the asked detail.
STEERING_INTENTS = frozenset(
    {"asks_human", "safety", "threat", "complaint", "long_wait", "cancel", "decline", "callback", "urgent"}
)
# "It's a ...", "We have the ...": words around a free-text value that are not part of it.
_LEAD = re.compile(
    r"^(?:(?:it'?s|it is|that'?s|that is|this is|we have|we've got|we got|i have|i've got|i got|we own|i own|"
    r"there'?s|es|c'est|j'ai|nous avons|tenemos|tengo)\s+)?(?:(?:an?|the|un|une|una|el|la|le)\s+)?",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"[\s,;.-]+(?:thanks|thank you|thx|cheers|please|gracias|merci)[\s.!]*$", re.IGNORECASE)
# Not a value: not knowing, not having it, not now, or a sentence about the customer rather than the detail.
_NOT_A_VALUE = re.compile(
    r"\b(?:don'?t|do not|didn'?t|can'?t|cannot|won'?t|not sure|no idea|unsure|unknown|rather not|later|"
    r"check|look (?:it )?up|find (?:it|out)|remember|no s[ée]|ni idea|ne sais pas|aucune id[ée]e|plus tard)\b|"
    r"^(?:i|we|you|my|our|can|could|would|will|why|what|how|when|where|who|yes|no|ok|okay|sure|hi|hello|hey|"
    r"thanks|thank you|n/?a|none|nothing)\b",
    re.IGNORECASE,
)


def free_text_value(raw: str) -> str | None:
    """A free-text value as the customer wrote it, without the words around it, or None when it is not one."""
    value = " ".join(raw.split()).strip(" .!,;:")
    value = _TRAIL.sub("", value).strip(" .!,;:")
    value = _LEAD.sub("", value, count=1).strip(" .!,;:")
    if not value or "?" in value or len(value) > MAX_TEXT_CHARS or len(value.split()) > MAX_TEXT_WORDS:
        return None
    if _NOT_A_VALUE.search(value):
        return None
    return value


def asked_key(message: Message) -> str | None:
    """The detail the AI asked for in its latest message before this one, if that message was a question."""
    last_ai = (
        Message.objects.filter(
            account_id=message.account_id,
            conversation_id=message.conversation_id,
            sender_type="ai",
            kind="message",
            created_at__lte=message.created_at,
        )
        .exclude(pk=message.pk)
        .order_by("-created_at", "-id")
        .values_list("metadata", flat=True)
        .first()
    )
    if not last_ai or last_ai.get("ai_action") != "ask":
        return None
    return str(last_ai.get("key") or "") or None


def answer_fact(
    text: str, definition: Definition, *, region: str, intents: frozenset[str] | set[str] = frozenset()
) -> ExtractedFact | None:
    """The whole answer read as the asked detail's kind, or None when it is not one."""
    answer = " ".join(text.split()).strip(" .!")
    if definition.value_type == "text" and not definition.builtin and not definition.pattern:
        if intents & STEERING_INTENTS:
            return None
        value = free_text_value(answer)
        return ExtractedFact(definition.key, value, 0.6) if value else None
    if definition.value_type not in ANSWERABLE_KINDS or not answer or len(answer) > MAX_ANSWER_CHARS:
        return None
    try:
        if definition.value_type == "date":
            value = date_clean(answer, label=definition.label)
        else:
            value = KIND_CLEANERS[definition.value_type](answer, definition.label, region)
    except ServiceError:
        return None
    return ExtractedFact(definition.key, value, 0.7)

"""An answer to the AI's own question is a fact even without its label: asked for the service address, a
customer who writes "42 Elm Street, Springfield, IL 62704" has given it. Only kinds with a parser are taken
this way (the parser must accept the whole answer), so "I don't have it with me" is never a value."""

from __future__ import annotations

from accounts.errors import ServiceError
from inbox.models import Message
from memory.definitions import KIND_CLEANERS, Definition, date_clean

from .engines.base import ExtractedFact

ANSWERABLE_KINDS = {"number", "money", "address", "phone", "email", "date"}
MAX_ANSWER_CHARS = 300


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


def answer_fact(text: str, definition: Definition, *, region: str) -> ExtractedFact | None:
    """The whole answer read as the asked detail's kind, or None when it is not one."""
    answer = " ".join(text.split()).strip(" .!")
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

"""What the console's browsers are sent with an event, rendered once where it happened: the conversation's list
row and the message, as the pages render them. A browser swaps them in (an out-of-band swap) instead of fetching
the list and the thread after every event; what depends on the viewer (unread, the open row, the list's query) it
sets itself, and the row's `data-in` (web.selectors.folders_of) tells it whether the row belongs in its list."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.db.models import Prefetch
from django.template.loader import render_to_string

from inbox.models import Conversation, ConversationLabel, Message

from .selectors import CONVERSATION_MOOD

ROW_EVENTS = ("message.created", "conversation.updated")
MESSAGE_EVENTS = ("message.created", "message.updated")
# A very long message is not worth pushing to every browser: past this the browser fetches the thread instead.
MAX_MESSAGE_HTML = 64 * 1024


def _conversation_id(event: dict[str, Any]) -> int | None:
    value = event.get("conversation_id") or (event.get("conversation") or {}).get("id")
    return int(value) if value else None


def render_row(account_id: int, conversation_id: int) -> str:
    """The conversation's row as the list renders it (read for no one: the browser marks it unread)."""
    conversation = (
        Conversation.objects.filter(account_id=account_id, pk=conversation_id)
        .select_related("contact", "assignee", "inbox")
        .prefetch_related(Prefetch("labellings", ConversationLabel.objects.select_related("label")))
        .annotate(sentiment_score=CONVERSATION_MOOD)
        .first()
    )
    if conversation is None:
        return ""
    conversation.is_unread = False  # type: ignore[attr-defined]
    return render_to_string(
        "web/_conversation_row.html",
        {"c": conversation, "account": SimpleNamespace(id=account_id), "list_query": {}},
    ).strip()


def render_message(account_id: int, message_id: int) -> str:
    message = (
        Message.objects.filter(account_id=account_id, pk=message_id)
        .select_related("sender_user", "conversation__contact")
        .prefetch_related("attachments")
        .first()
    )
    if message is None:
        return ""
    html = render_to_string(
        "web/_message.html",
        {"m": message, "conversation": message.conversation, "account": SimpleNamespace(id=account_id)},
    ).strip()
    return html if len(html) <= MAX_MESSAGE_HTML else ""


def render_for_browsers(type: str, event: dict[str, Any]) -> dict[str, Any]:
    """inbox.events renderer: `row_html` for conversation.updated and for a message.created that no
    conversation.updated follows (`row_follows`), `message_html` for message.created and message.updated."""
    account_id = int(event["account_id"])
    extra: dict[str, Any] = {}
    conversation_id = _conversation_id(event)
    # a message.created whose conversation.updated follows in the same commit leaves the row to that one
    row = type in ROW_EVENTS or (type == "memory.updated" and event.get("kind") == "sentiment")  # the mood badge
    if row and conversation_id and not event.get("row_follows"):
        extra["row_html"] = render_row(account_id, conversation_id)
    message = event.get("message") or {}
    if type in MESSAGE_EVENTS and message.get("id"):
        extra["message_html"] = render_message(account_id, int(message["id"]))
    return extra

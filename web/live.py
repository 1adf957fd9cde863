"""What the console's browsers are sent with an event, rendered once where it happened: the conversation's list
row and the message, as the pages render them. A browser swaps them in (an out-of-band swap) instead of fetching
the list and the thread after every event; what depends on the viewer (unread, the open row, the list's query) it
sets itself, and the row's `data-in` (web.selectors.folders_of) tells it whether the row belongs in its list."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from django.db import connection
from django.db.models import Prefetch
from django.template.loader import render_to_string

from accounts.models import User
from inbox.models import Conversation, ConversationLabel, Message

from .selectors import CONVERSATION_MOOD, TREND_WINDOW

ROW_EVENTS = ("message.created", "conversation.updated")
MESSAGE_EVENTS = ("message.created", "message.updated")
# A very long message is not worth pushing to every browser: past this the browser fetches the thread instead.
MAX_MESSAGE_HTML = 64 * 1024


def _conversation_id(event: dict[str, Any]) -> int | None:
    value = event.get("conversation_id") or (event.get("conversation") or {}).get("id")
    return int(value) if value else None


def render_row(account_id: int, conversation_id: int, objects: dict[str, Any] | None = None) -> str:
    """The conversation's row as the list renders it (read for no one: the browser marks it unread); from the
    objects the publisher had in hand when it passed them (two small reads: the labels and the mood)."""
    conversation = _row_in_hand(account_id, conversation_id, objects or {})
    if conversation is None:
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


def _related(instance: Any, name: str, given: Any, key: int | None) -> bool:
    """Put `given` on the instance's relation `name` when it is the one the key points to; True when the relation
    is known (cached, set here, or empty)."""
    field = type(instance)._meta.get_field(name)
    if key is None or field.is_cached(instance):
        return True
    if given is not None and given.pk == key:
        field.set_cached_value(instance, given)
        return True
    return False


def _row_in_hand(account_id: int, conversation_id: int, objects: dict[str, Any]) -> Conversation | None:
    """A copy of the publisher's conversation with what the row shows, or None (then the row is read whole)."""
    given = objects.get("conversation")
    if not isinstance(given, Conversation) or given.pk != conversation_id or given.account_id != account_id:
        return None
    conversation = copy.copy(given)  # its own relation caches: the caller's instance is left as it was
    for name, key in (("contact", conversation.contact_id), ("inbox", conversation.inbox_id)):
        if not _related(conversation, name, objects.get(name), key):
            return None
    assignee_id = conversation.assignee_id
    if assignee_id is not None and not _related(conversation, "assignee", objects.get("assignee"), assignee_id):
        conversation.assignee = User.objects.filter(pk=assignee_id).first()
    labels = ConversationLabel.objects.filter(conversation_id=conversation.pk).select_related("label")
    _known(conversation, "labellings", list(labels))
    with connection.cursor() as cursor:
        cursor.execute(_MOOD, [conversation.pk, TREND_WINDOW])
        conversation.sentiment_score = cursor.fetchone()[0]  # type: ignore[attr-defined]
    return conversation


# CONVERSATION_MOOD for one conversation
_MOOD = (
    "SELECT round(avg(s.score)::numeric, 3)::float FROM (SELECT r.score FROM memory_sentimentreading r "
    "WHERE r.conversation_id = %s ORDER BY r.created_at DESC, r.id DESC LIMIT %s) s"
)


def _known(instance: Any, relation: str, rows: list[Any]) -> None:
    """`instance.<relation>.all()` answers `rows` without a query, as prefetch_related leaves it."""
    manager = getattr(instance, relation)
    queryset = manager.all()  # built, never run
    queryset._result_cache = rows  # what prefetch_related_objects stores
    queryset._prefetch_done = True
    cached = getattr(instance, "_prefetched_objects_cache", {})
    instance._prefetched_objects_cache = {**cached, manager.field.remote_field.cache_name: queryset}


def render_message(account_id: int, message_id: int, objects: dict[str, Any] | None = None) -> str:
    message = _message_in_hand(account_id, message_id, objects or {})
    if message is None:
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


def _message_in_hand(account_id: int, message_id: int, objects: dict[str, Any]) -> Message | None:
    """A copy of the publisher's message with its sender, conversation, customer and files, or None."""
    given, attachments = objects.get("message"), objects.get("attachments")
    if not isinstance(given, Message) or given.pk != message_id or given.account_id != account_id:
        return None
    if attachments is None:
        return None
    message = copy.copy(given)
    if not _related(message, "conversation", objects.get("conversation"), message.conversation_id):
        return None
    conversation = copy.copy(message.conversation)
    Message._meta.get_field("conversation").set_cached_value(message, conversation)
    if not _related(conversation, "contact", objects.get("contact"), conversation.contact_id):
        return None
    if not _related(message, "sender_user", objects.get("sender_user"), message.sender_user_id):
        return None
    _known(message, "attachments", list(attachments))
    return message


def render_for_browsers(type: str, event: dict[str, Any], objects: dict[str, Any] | None = None) -> dict[str, Any]:
    """inbox.events renderer: `row_html` for conversation.updated and for a message.created that no
    conversation.updated follows (`row_follows`), `message_html` for message.created and message.updated; from the
    publisher's `objects` where it passed them."""
    account_id = int(event["account_id"])
    extra: dict[str, Any] = {}
    conversation_id = _conversation_id(event)
    # a message.created whose conversation.updated follows in the same commit leaves the row to that one
    row = type in ROW_EVENTS or (type == "memory.updated" and event.get("kind") == "sentiment")  # the mood badge
    if row and conversation_id and not event.get("row_follows"):
        extra["row_html"] = render_row(account_id, conversation_id, objects or {})
    message = event.get("message") or {}
    if type in MESSAGE_EVENTS and message.get("id"):
        extra["message_html"] = render_message(account_id, int(message["id"]), objects or {})
    return extra

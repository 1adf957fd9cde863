"""What the console's pages read, composed from every app's selectors (the web layer sits on top of them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Account, Membership
from inbox.models import Conversation, HandledBy, Status
from inbox.selectors import conversation_list, with_unread
from memory.selectors import TREND_WINDOW

PAGE_SIZE = 50


@dataclass(frozen=True)
class Folder:
    key: str
    label: str
    empty: str  # what to say (and suggest) when it has nothing in it


FOLDERS = [
    Folder("mine", "Mine", "Nothing assigned to you is open. Pick one from Unassigned or Escalated."),
    Folder("unassigned", "Unassigned", "Every conversation a person handles has an owner."),
    Folder("ai", "AI-handled", "The AI agent is not handling any open conversation right now."),
    Folder("escalated", "Escalated", "No escalations: nothing is waiting for a person urgently."),
    Folder("waiting", "Waiting", "No conversation is waiting on a customer's reply."),
    Folder("snoozed", "Snoozed", "Nothing snoozed. A snoozed conversation comes back by itself at its time."),
    Folder("resolved", "Resolved", "Nothing resolved yet."),
    Folder("all", "All", "No conversations yet. They appear here as soon as a customer writes on any channel."),
]
FOLDER_BY_KEY = {folder.key: folder for folder in FOLDERS}


def folder_conversations(
    *, account: Account, membership: Membership, folder: str, inbox_id: int | None = None, label_id: int | None = None
) -> QuerySet[Conversation]:
    """The conversations of one console folder (with one label, when given), newest activity first."""
    rows = conversation_list(account=account, membership=membership, inbox_id=inbox_id, label_id=label_id)
    now = timezone.now()
    # a snoozed conversation leaves the working folders until its time (beat wakes it; a customer's reply too)
    open_rows = rows.exclude(status=Status.RESOLVED).exclude(snoozed_until__gt=now)
    if folder == "snoozed":
        rows = rows.filter(snoozed_until__gt=now).exclude(status=Status.RESOLVED)
    elif folder == "mine":
        rows = open_rows.filter(assignee_id=membership.user_id)
    elif folder == "unassigned":
        rows = open_rows.filter(handled_by=HandledBy.HUMAN, assignee__isnull=True)
    elif folder == "ai":
        rows = open_rows.filter(handled_by=HandledBy.AI)
    elif folder in (Status.ESCALATED, Status.WAITING):
        rows = open_rows.filter(status=folder)
    elif folder == Status.RESOLVED:
        rows = rows.filter(status=folder)
    return with_unread(rows, user_id=membership.user_id).annotate(sentiment_score=CONVERSATION_MOOD)


def folders_of(conversation: Conversation) -> list[str]:
    """The folders of folder_conversations that list `conversation`, for any viewer: "open" stands for "mine" when
    the viewer is its assignee. A row pushed to the browsers carries them, so each browser knows whether the row
    belongs in the list it shows (tests/web/test_live_rows.py checks this mirrors folder_conversations)."""
    if conversation.merged_into_id:
        return []
    folders = ["all"]
    if conversation.status == Status.RESOLVED:
        folders.append("resolved")
    elif conversation.snoozed_until is not None and conversation.snoozed_until > timezone.now():
        folders.append("snoozed")
    else:
        folders.append("open")
        if conversation.handled_by == HandledBy.HUMAN and conversation.assignee_id is None:
            folders.append("unassigned")
        if conversation.handled_by == HandledBy.AI:
            folders.append("ai")
        if conversation.status in (Status.ESCALATED, Status.WAITING):
            folders.append(conversation.status)
    return folders


# The conversation's mood, one figure wherever it is shown (this list, the memory panel, the recall API's
# conversation_sentiment): the mean of its latest TREND_WINDOW readings, as memory.selectors.Trend computes it.
CONVERSATION_MOOD = RawSQL(
    "(SELECT round(avg(s.score)::numeric, 3)::float FROM (SELECT r.score FROM memory_sentimentreading r "
    "WHERE r.conversation_id = inbox_conversation.id ORDER BY r.created_at DESC, r.id DESC LIMIT %s) s)",
    (TREND_WINDOW,),
)


def parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """The "older" link's cursor: `<last_activity_at ISO>|<id>` of the last row shown."""
    if not raw or "|" not in raw:
        return None
    stamp, _, ident = raw.rpartition("|")
    at = parse_datetime(stamp)
    if at is None or not ident.isdigit():
        return None
    if timezone.is_naive(at):
        at = timezone.make_aware(at, UTC)
    return at, int(ident)


def page_of(rows: QuerySet[Conversation], cursor: tuple[datetime, int] | None) -> tuple[list[Conversation], str]:
    """One page of a folder and the cursor of the next one ("" at the end)."""
    from django.db.models import Q

    if cursor is not None:
        at, ident = cursor
        rows = rows.filter(Q(last_activity_at__lt=at) | Q(last_activity_at=at, id__lt=ident))
    page = list(rows[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    next_cursor = f"{page[-1].last_activity_at.isoformat()}|{page[-1].pk}" if more else ""
    return page, next_cursor


def sentiment_points(series: list[dict[str, Any]], *, width: int = 340, height: int = 112) -> dict[str, Any]:
    """Coordinates of an inline SVG line chart of the daily mean sentiment (-1 at the bottom, +1 at the top), with
    a gutter on the left for the scale's words and one below for the first and last day."""
    pad, left, bottom = 6, 58, 16
    plot_h = height - bottom - 2 * pad
    frame = {
        "width": width,
        "height": height,
        "left": left,
        "top_y": pad,
        "zero_y": round(pad + plot_h / 2, 1),
        "bottom_y": pad + plot_h,
        "label_y": height - 3,
    }
    if not series:
        return {"points": [], "polyline": "", **frame}
    step = (width - left - 2 * pad) / max(len(series) - 1, 1)
    points = []
    for index, row in enumerate(series):
        x = left + pad + index * step if len(series) > 1 else (left + width) / 2
        y = pad + (1 - (float(row["mean"]) + 1) / 2) * plot_h
        points.append({"x": round(x, 1), "y": round(y, 1), **row})
    return {
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "first_day": _day_words(series[0]["day"]),
        "last_day": _day_words(series[-1]["day"]) if len(series) > 1 else "",
        **frame,
    }


def _day_words(day: Any) -> str:
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return f"{value:%b} {value.day}"

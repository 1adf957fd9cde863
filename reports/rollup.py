"""Build the daily rollup (`ReportDay`) from the source rows of one account and one UTC day, and read it back for
a range, filtered and grouped. Rebuilding a day is a delete and a bulk insert in one transaction (idempotent);
beat rebuilds today and yesterday for the accounts with activity, `manage.py reports_rebuild` any range."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from accounts.models import Account
from inbox.hours import open_seconds
from inbox.models import Conversation, ConversationLabel, CsatSurvey, Inbox, Message
from memory.models import Handoff, SentimentReading

from .models import ReportDay

Key = tuple[int, int | None, str]  # inbox, agent, channel


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass
class _Row:
    opened: int = 0
    opened_by_ai: int = 0
    resolved: int = 0
    resolved_by_ai: int = 0
    handoffs: int = 0
    first_responses: int = 0
    first_response_seconds: float = 0.0
    resolution_seconds: float = 0.0
    sentiment_sum: float = 0.0
    sentiment_count: int = 0
    csat_sum: int = 0
    csat_count: int = 0


def _owner(recorded_status: str | None, recorded: int | None, now: int | None) -> int | None:
    """The assignee a message recorded with the conversation's state; the assignee now for a message written before
    states were recorded (no status on it)."""
    return recorded if recorded_status else now


def rebuild_day(account: Account, day: date) -> int:
    """Recompute one account's day. Returns how many rollup rows it has now."""
    start, end = _bounds(day)
    inboxes = {inbox.pk: inbox for inbox in Inbox.objects.filter(account=account)}
    rows: dict[Key, _Row] = defaultdict(_Row)
    by_label: dict[tuple[int, int], _Row] = defaultdict(_Row)
    first_in = Message.objects.filter(conversation_id=OuterRef("pk"), direction="in", kind="message")
    first_person = Message.objects.filter(
        conversation_id=OuterRef("pk"), sender_type="user", kind="message", direction="out"
    )
    # whose it was as the day ended (its last message's recorded state): every message records the conversation's
    # state when written (an assignment and a resolution write an activity line), so a rebuild of a past day gives it
    # to whoever had it then, not to whoever has it now
    day_end = Message.objects.filter(conversation_id=OuterRef("pk"), created_at__lt=end).order_by("-created_at", "-id")
    owner_then = {
        "owner_status": Subquery(day_end.values("conversation_status")[:1]),
        "owner": Subquery(day_end.values("conversation_assignee_id")[:1]),
    }
    # conversations opened this day: their first person's reply, in the inbox's working time
    opened = (
        Conversation.objects.filter(
            account=account, created_at__gte=start, created_at__lt=end, merged_into__isnull=True
        )
        .annotate(
            first_in=Subquery(first_in.order_by("created_at").values("created_at")[:1]),
            # who owned it when the customer's first message arrived (each message records the state)
            first_owner=Subquery(first_in.order_by("created_at").values("conversation_handled_by")[:1]),
            first_reply=Subquery(first_person.order_by("created_at").values("created_at")[:1]),
            **owner_then,
        )
        .values(
            "pk", "inbox_id", "assignee_id", "active_channel", "created_at", "first_in", "first_owner", "first_reply",
            *owner_then,
        )
    )  # fmt: skip
    labels = _labels(account, [c["pk"] for c in opened])
    for c in opened:
        inbox = inboxes.get(c["inbox_id"])
        if inbox is None:
            continue
        row = rows[(c["inbox_id"], _owner(c["owner_status"], c["owner"], c["assignee_id"]), c["active_channel"])]
        row.opened += 1
        row.opened_by_ai += c["first_owner"] == "ai"
        if c["first_reply"] is not None:
            begin = c["first_in"] or c["created_at"]
            row.first_responses += 1
            row.first_response_seconds += open_seconds(inbox.business_hours, inbox.timezone, begin, c["first_reply"])
        for label_id in labels.get(c["pk"], ()):
            by_label[(c["inbox_id"], label_id)].opened += 1
    # conversations resolved this day: how long they took (working time), and whether a person was ever involved
    resolved: list[Any] = list(
        Conversation.objects.filter(account=account, resolved_at__gte=start, resolved_at__lt=end)
        .annotate(**owner_then)
        .values("pk", "inbox_id", "assignee_id", "active_channel", "created_at", "resolved_at", "handled_by",
                *owner_then)
    )  # fmt: skip
    resolved_labels = _labels(account, [r["pk"] for r in resolved])
    handed = set(
        Handoff.objects.filter(account=account, conversation_id__in=[r["pk"] for r in resolved]).values_list(
            "conversation_id", flat=True
        )
    )
    for r in resolved:
        inbox = inboxes.get(r["inbox_id"])
        if inbox is None:
            continue
        row = rows[(r["inbox_id"], _owner(r["owner_status"], r["owner"], r["assignee_id"]), r["active_channel"])]
        row.resolved += 1
        row.resolved_by_ai += r["handled_by"] == "ai" and r["pk"] not in handed
        done = r["resolved_at"] or r["created_at"]
        row.resolution_seconds += open_seconds(inbox.business_hours, inbox.timezone, r["created_at"], done)
        for label_id in resolved_labels.get(r["pk"], ()):
            by_label[(r["inbox_id"], label_id)].resolved += 1
    for h in Handoff.objects.filter(account=account, created_at__gte=start, created_at__lt=end).values(
        "from_inbox_id", "to_user_id", "conversation__active_channel"
    ):
        rows[(h["from_inbox_id"], h["to_user_id"], h["conversation__active_channel"])].handoffs += 1
    for reading in (
        SentimentReading.objects.filter(account=account, created_at__gte=start, created_at__lt=end)
        .values("inbox_id", "message__conversation_status", "message__conversation_assignee_id",
                "conversation__assignee_id", "message__channel")
        .annotate(total=Sum("score"), n=Count("id"))
    ):  # fmt: skip
        # whose it was when the customer wrote (the message's recorded state)
        owner = _owner(
            reading["message__conversation_status"],
            reading["message__conversation_assignee_id"],
            reading["conversation__assignee_id"],
        )
        row = rows[(reading["inbox_id"], owner, reading["message__channel"])]
        row.sentiment_sum += reading["total"] or 0.0
        row.sentiment_count += reading["n"] or 0
    for s in CsatSurvey.objects.filter(account=account, rated_at__gte=start, rated_at__lt=end).values(
        "inbox_id", "assignee_id", "channel", "rating"
    ):
        row = rows[(s["inbox_id"], s["assignee_id"], s["channel"])]
        row.csat_sum += s["rating"] or 0
        row.csat_count += 1
    records = [
        ReportDay(account=account, day=day, inbox_id=inbox_id, agent_id=agent_id, channel=channel or "",
                  **_counts(row))
        for (inbox_id, agent_id, channel), row in rows.items()
        if inbox_id in inboxes
    ] + [
        ReportDay(account=account, day=day, inbox_id=inbox_id, label_id=label_id, **_counts(row))
        for (inbox_id, label_id), row in by_label.items()
        if inbox_id in inboxes
    ]  # fmt: skip
    with transaction.atomic():
        ReportDay.objects.filter(account=account, day=day).delete()
        ReportDay.objects.bulk_create(records)
    return len(records)


def _counts(row: _Row) -> dict[str, Any]:
    return dict(row.__dict__)


def _labels(account: Account, conversation_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for conversation_id, label_id in ConversationLabel.objects.filter(
        account=account, conversation_id__in=conversation_ids
    ).values_list("conversation_id", "label_id"):
        found[conversation_id].append(label_id)
    return found


def rebuild_recent(now: datetime | None = None) -> int:
    """Beat: today and yesterday (UTC) for every account with activity since yesterday."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    since, _ = _bounds(today - timedelta(days=1))
    active = set(Conversation.objects.filter(last_activity_at__gte=since).values_list("account_id", flat=True))
    active |= set(CsatSurvey.objects.filter(rated_at__gte=since).values_list("account_id", flat=True))
    built = 0
    for account in Account.objects.filter(pk__in=active):
        for day in (today - timedelta(days=1), today):
            built += rebuild_day(account, day)
    return built


def rebuild_range(account: Account, first: date, last: date) -> int:
    built, day = 0, first
    while day <= last:
        built += rebuild_day(account, day)
        day += timedelta(days=1)
    return built


def account_first_day(account: Account) -> date | None:
    first = Conversation.objects.filter(account=account).aggregate(first=Min("created_at"))["first"]
    return first.astimezone(UTC).date() if first else None


# --- Reading ----------------------------------------------------------------------------------------------


GROUPS = {"day": "day", "inbox": "inbox_id", "agent": "agent_id", "channel": "channel", "label": "label_id"}
SUMS = [
    "opened", "opened_by_ai", "resolved", "resolved_by_ai", "handoffs", "first_responses", "first_response_seconds",
    "resolution_seconds", "sentiment_sum", "sentiment_count", "csat_sum", "csat_count",
]  # fmt: skip


@dataclass
class Filters:
    first: date
    last: date
    inbox_ids: list[int] | None = None  # None: every inbox (admins); an agent's own inboxes otherwise
    inbox: int | None = None
    agent: int | None = None
    channel: str = ""
    label: int | None = None


def report_rows(account: Account, filters: Filters, group: str) -> list[dict[str, Any]]:
    """Sums per group over the range, with the derived figures (averages and shares)."""
    rows: QuerySet[ReportDay] = ReportDay.objects.filter(account=account, day__gte=filters.first, day__lte=filters.last)
    if filters.inbox_ids is not None:
        rows = rows.filter(inbox_id__in=filters.inbox_ids)
    if filters.inbox:
        rows = rows.filter(inbox_id=filters.inbox)
    # label rows carry only opened / resolved per label; every other figure comes from the main rows
    rows = rows.filter(label__isnull=False) if group == "label" or filters.label else rows.filter(label__isnull=True)
    if filters.label:
        rows = rows.filter(label_id=filters.label)
    if filters.agent:
        rows = rows.filter(agent_id=filters.agent)
    if filters.channel:
        rows = rows.filter(channel=filters.channel)
    key = GROUPS[group]
    summed = rows.values(key).annotate(**{name: Sum(name) for name in SUMS}).order_by(key)
    return [_derive({**r, "key": r[key]}) for r in summed]


def totals_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals of a report's rows (any grouping but label, whose rows carry only opened and resolved)."""
    return _derive({name: sum((r[name] or 0) for r in rows) for name in SUMS})


def report_totals(account: Account, filters: Filters) -> dict[str, Any]:
    return totals_of(report_rows(account, filters, "inbox"))


def sentiment_by_inbox_day(account: Account, filters: Filters) -> dict[int, dict[date, float | None]]:
    """Each inbox's daily mean sentiment over the range, in one query."""
    rows = ReportDay.objects.filter(account=account, day__gte=filters.first, day__lte=filters.last, label__isnull=True)
    if filters.inbox_ids is not None:
        rows = rows.filter(inbox_id__in=filters.inbox_ids)
    if filters.inbox:
        rows = rows.filter(inbox_id=filters.inbox)
    series: dict[int, dict[date, float | None]] = defaultdict(dict)
    for r in rows.values("inbox_id", "day").annotate(total=Sum("sentiment_sum"), n=Sum("sentiment_count")):
        series[r["inbox_id"]][r["day"]] = round(r["total"] / r["n"], 3) if r["n"] else None
    return series


def _derive(r: dict[str, Any]) -> dict[str, Any]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    r["first_response_avg_seconds"] = ratio(r.get("first_response_seconds"), r.get("first_responses"))
    r["resolution_avg_seconds"] = ratio(r.get("resolution_seconds"), r.get("resolved"))
    r["ai_handled_share"] = ratio(r.get("resolved_by_ai"), r.get("resolved"))
    r["handoff_rate"] = ratio(r.get("handoffs"), r.get("opened_by_ai"))
    r["sentiment_avg"] = ratio(r.get("sentiment_sum"), r.get("sentiment_count"))
    r["csat_avg"] = ratio(r.get("csat_sum"), r.get("csat_count"))
    return r

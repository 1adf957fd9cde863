"""Reads of Shared Memory. The scope rules live here, in `recall`: everything an inbox may see about a contact
— its own conversations, history, notes, facts, sentiment and handoffs, plus facts shared by the account — and
nothing from other inboxes. The API, the console and the AI's prompts all read through it."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Avg, Count, Min, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDay
from django.utils import timezone

from accounts.models import Account
from contacts.models import Contact, ContactIdentity
from inbox.models import Attachment, Conversation, Inbox, Message

from .definitions import Definition, definitions_for
from .models import AiNote, Fact, FactDefinition, FactStatus, Handoff, SentimentReading

HISTORY_LIMIT = 50
CONVERSATION_LIMIT = 10
HANDOFF_LIMIT = 10
FACT_HISTORY_LIMIT = 10  # the facts endpoint has the whole history

# recall() loads only the columns its readers use: it runs on every AI turn and every console view.
MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "direction",
    "kind",
    "channel",
    "sender_type",
    "sender_user_id",
    "body",
    "delivery_status",
    "error_code",
    "error_message",
    "created_at",
)
NOTE_FIELDS = (
    "id",
    "conversation_id",
    "version",
    "is_current",
    "need",
    "status",
    "next_step",
    "open_questions",
    "source_message_ids",
    "author_type",
    "author_user_id",
    "engine",
    "created_at",
)
FACT_FIELDS = (
    "id",
    "key",
    "value",
    "confidence",
    "status",
    "inbox_id",
    "conversation_id",
    "source_message_id",
    "author_type",
    "author_user_id",
    "engine",
    "confirmed_by_id",
    "confirmed_at",
    "superseded_by_id",
    "created_at",
    "changed_at",
)
SOURCE_FIELDS = (
    "source_message__id",
    "source_message__conversation_id",
    "source_message__body",
    "source_message__created_at",
)
HANDOFF_FIELDS = (
    "id",
    "conversation_id",
    "to_conversation_id",
    "from_inbox_id",
    "to_inbox_id",
    "from_party",
    "to_user_id",
    "reason",
    "what_was_done",
    "missing",
    "sentiment_score",
    "sentiment_label",
    "suggested_next_step",
    "suggested_channel",
    "author_type",
    "author_user_id",
    "engine",
    "created_at",
)


def _user_fields(relation: str) -> tuple[str, ...]:
    return (f"{relation}__id", f"{relation}__name", f"{relation}__email")


TREND_WINDOW = 5  # readings in the rolling mean
TREND_READINGS = 2 * TREND_WINDOW
# "Urgent / frustrated": the rolling mean is below this, or fell by more than FAST_FALL against the window before.
FRUSTRATED_BELOW = -0.5
FAST_FALL = 0.6
DIRECTION_STEP = 0.15


@dataclass
class Trend:
    """Where a customer's mood stands and where it is heading, from their latest readings (newest first)."""

    mean: float | None = None
    previous_mean: float | None = None
    direction: str = "unknown"  # improving, worsening, steady, unknown
    label: str = ""
    last_change_at: datetime | None = None
    urgent: bool = False
    readings: int = 0

    @classmethod
    def from_readings(cls, readings: list[SentimentReading]) -> Trend:
        if not readings:
            return cls()
        window = [r.score for r in readings[:TREND_WINDOW]]
        before = [r.score for r in readings[TREND_WINDOW:TREND_READINGS]]
        mean = round(statistics.fmean(window), 3)
        previous = round(statistics.fmean(before), 3) if before else None
        direction = "steady"
        if previous is not None:
            if mean - previous > DIRECTION_STEP:
                direction = "improving"
            elif previous - mean > DIRECTION_STEP:
                direction = "worsening"
        last_change = None
        for newer, older in itertools.pairwise(readings):
            if newer.label != older.label:
                last_change = newer.created_at
                break
        urgent = mean < FRUSTRATED_BELOW or (previous is not None and previous - mean > FAST_FALL)
        label = "positive" if mean >= 0.05 else "negative" if mean <= -0.05 else "neutral"
        return cls(mean, previous, direction, label, last_change, urgent, len(readings))


@dataclass
class Recall:
    contact: Contact
    inbox: Inbox
    definitions: dict[str, Definition]
    conversations: list[Conversation]
    history: list[Message]
    notes: dict[int, AiNote]  # current note per conversation of this inbox
    facts: list[Fact]  # active: this inbox's and the shared ones
    fact_history: list[Fact]  # superseded and rejected, newest first
    sentiment: Trend
    conversation_sentiment: Trend  # the latest conversation's
    handoffs: list[Handoff]
    missing: list[str] = field(default_factory=list)  # required keys with no active fact

    @property
    def current_conversation(self) -> Conversation | None:
        return self.conversations[0] if self.conversations else None

    @property
    def fact_values(self) -> dict[str, str]:
        return {fact.key: fact.value for fact in self.facts}


def _fact_scope(account: Account, contact: Contact, inbox: Inbox) -> QuerySet[Fact]:
    return Fact.objects.filter(account=account, contact=contact).filter(Q(inbox=inbox) | Q(inbox__isnull=True))


def recall(*, account: Account, contact: Contact, inbox: Inbox) -> Recall:
    """What the AI and the inbox's team may see about `contact`, in a fixed number of queries."""
    if contact.account_id != account.pk or inbox.account_id != account.pk:
        raise ValueError("recall across accounts")
    # The caller's contact row, with its identities attached the way prefetch_related would.
    identities = list(ContactIdentity.objects.filter(account=account, contact=contact).order_by("kind", "id"))
    contact._prefetched_objects_cache = {"identities": identities}  # type: ignore[attr-defined]
    conversations = list(
        Conversation.objects.filter(account=account, inbox=inbox, contact=contact).order_by("-last_activity_at", "-id")[
            :CONVERSATION_LIMIT
        ]
    )
    history = list(
        Message.objects.filter(account=account, contact=contact, inbox=inbox)
        .select_related("sender_user")
        .only(*MESSAGE_FIELDS, *_user_fields("sender_user"))
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("-created_at", "-id")[:HISTORY_LIMIT]
    )
    history.reverse()  # oldest first: how a person and a prompt read a thread
    notes = {
        note.conversation_id: note
        for note in AiNote.objects.filter(
            account=account, inbox=inbox, conversation_id__in=[c.pk for c in conversations], is_current=True
        )
        .select_related("author_user")
        .only(*NOTE_FIELDS, *_user_fields("author_user"))
    }
    scoped = _fact_scope(account, contact, inbox)
    facts = list(
        scoped.filter(status=FactStatus.ACTIVE)
        .select_related("author_user", "confirmed_by", "source_message")
        .only(*FACT_FIELDS, *_user_fields("author_user"), *_user_fields("confirmed_by"), *SOURCE_FIELDS)
        .order_by("key", "-id")
    )
    history_facts = list(
        scoped.exclude(status=FactStatus.ACTIVE)
        .select_related("author_user")
        .only(*FACT_FIELDS, *_user_fields("author_user"))
        .order_by("-changed_at", "-id")[:FACT_HISTORY_LIMIT]
    )
    readings = list(
        SentimentReading.objects.filter(account=account, contact=contact, inbox=inbox)
        .only("id", "conversation_id", "score", "label", "created_at")
        .order_by("-created_at", "-id")[:TREND_READINGS]
    )
    current = conversations[0] if conversations else None
    conversation_readings = [r for r in readings if current is not None and r.conversation_id == current.pk]
    handoffs = list(
        Handoff.objects.filter(account=account, contact=contact)
        .filter(Q(from_inbox=inbox) | Q(to_inbox=inbox))
        .select_related("from_inbox", "to_inbox", "to_user", "author_user")
        .only(
            *HANDOFF_FIELDS,
            "from_inbox__id",
            "from_inbox__name",
            "to_inbox__id",
            "to_inbox__name",
            *_user_fields("to_user"),
            *_user_fields("author_user"),
        )
        .order_by("-created_at", "-id")[:HANDOFF_LIMIT]
    )
    definitions = definitions_for(account=account, inbox=inbox)
    known = {f.key for f in facts}
    missing = [d.key for d in definitions.values() if d.required_before_handoff and d.key not in known]
    return Recall(
        contact=contact,
        inbox=inbox,
        definitions=definitions,
        conversations=conversations,
        history=history,
        notes=notes,
        facts=facts,
        fact_history=history_facts,
        sentiment=Trend.from_readings(readings),
        conversation_sentiment=Trend.from_readings(conversation_readings),
        handoffs=handoffs,
        missing=missing,
    )


def conversation_trend(*, account: Account, conversation: Conversation) -> Trend:
    readings = list(
        SentimentReading.objects.filter(account=account, conversation=conversation).order_by("-created_at", "-id")[
            :TREND_READINGS
        ]
    )
    return Trend.from_readings(readings)


def sentiment_series(
    *, account: Account, contact: Contact, inbox: Inbox, since: datetime | None = None
) -> list[dict[str, object]]:
    """Daily mean, lowest score and count of readings for a chart (default: the last 365 days)."""
    since = since or timezone.now() - timedelta(days=365)
    rows = (
        SentimentReading.objects.filter(account=account, contact=contact, inbox=inbox, created_at__gte=since)
        .annotate(day=TruncDay("created_at"))
        .values("day")
        .annotate(mean=Avg("score"), low=Min("score"), count=Count("id"))
        .order_by("day")
    )
    return [
        {
            "day": row["day"].date().isoformat(),
            "mean": round(row["mean"], 3),
            "low": round(row["low"], 3),
            "count": row["count"],
        }
        for row in rows
    ]


def fact_list(*, account: Account, contact: Contact, inbox: Inbox) -> QuerySet[Fact]:
    """Every fact the inbox may see about the contact (shared included), current and past, newest first."""
    return (
        _fact_scope(account, contact, inbox)
        .select_related("author_user", "confirmed_by", "source_message")
        .order_by("-created_at", "-id")
    )


def fact_get_visible(*, account: Account, fact_id: int, inbox_ids: QuerySet[Inbox] | list[int]) -> Fact | None:
    """A fact the member may see: from one of their inboxes, or shared."""
    return (
        Fact.objects.filter(account=account, pk=fact_id)
        .filter(Q(inbox__in=inbox_ids) | Q(inbox__isnull=True))
        .select_related("author_user", "confirmed_by", "source_message")
        .first()
    )


def note_history(*, account: Account, conversation: Conversation) -> QuerySet[AiNote]:
    return (
        AiNote.objects.filter(account=account, conversation=conversation)
        .select_related("author_user")
        .order_by("-version")
    )


def handoff_list(*, account: Account, conversation: Conversation) -> QuerySet[Handoff]:
    return (
        Handoff.objects.filter(account=account)
        .filter(Q(conversation=conversation) | Q(to_conversation=conversation))
        .select_related("from_inbox", "to_inbox", "to_user", "author_user")
        .order_by("-created_at", "-id")
    )


def fact_definition_list(*, account: Account, inbox: Inbox) -> QuerySet[FactDefinition]:
    return FactDefinition.objects.filter(account=account, inbox=inbox).order_by("key")


def contact_trend(*, account: Account, contact: Contact, inbox: Inbox) -> Trend:
    readings = list(
        SentimentReading.objects.filter(account=account, contact=contact, inbox=inbox).order_by("-created_at", "-id")[
            :TREND_READINGS
        ]
    )
    return Trend.from_readings(readings)

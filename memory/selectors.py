"""Reads of Shared Memory. The scope rules live here, in `recall`: everything an inbox may see about a contact
— its own conversations, history, notes, facts, sentiment and handoffs, plus facts shared by the account — and
nothing from other inboxes. The API, the console and the AI's prompts all read through it."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, DateTimeField, Min, Q, QuerySet
from django.db.models.functions import TruncDay
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Account, User
from contacts.models import Contact, ContactIdentity
from inbox.models import Attachment, Conversation, Inbox, Message

from .definitions import Definition, definitions_from_rows
from .models import AiNote, Fact, FactDefinition, FactStatus, Handoff, SentimentReading

HISTORY_LIMIT = 50
CONVERSATION_LIMIT = 10
HANDOFF_LIMIT = 10
FACT_HISTORY_LIMIT = 10  # the facts endpoint has the whole history


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
        urgent = mean <= FRUSTRATED_BELOW or (previous is not None and previous - mean >= FAST_FALL)
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
    stale: list[str] = field(default_factory=list)  # keys whose active fact is past its definition's shelf life

    @property
    def current_conversation(self) -> Conversation | None:
        return self.conversations[0] if self.conversations else None

    @property
    def fact_values(self) -> dict[str, str]:
        return {fact.key: fact.value for fact in self.facts}


def fact_provenance(fact: Fact, *, inbox_ids: Collection[int]) -> dict[str, Any]:
    """Where a fact came from, as far as someone looking from `inbox_ids` may know. A shared fact learned in an
    inbox outside them says only that it was learned in another inbox, on which channel and when: never the
    source message (its words, its link) nor the conversation, which belong to the other team."""
    if fact.origin_inbox_id is not None and fact.origin_inbox_id not in inbox_ids:
        return {
            "source_message": None,
            "conversation_id": None,
            "learned_elsewhere": {"channel": fact.origin_channel, "at": fact.created_at},
        }
    return {"source_message": fact.source_message, "conversation_id": fact.conversation_id, "learned_elsewhere": None}


def is_stale(fact: Fact, shelf_life_days: int | None, now: datetime) -> bool:
    """Past its shelf life since it was last known to hold (learned, confirmed or renewed)."""
    return bool(shelf_life_days) and now - fact.fresh_since > timedelta(days=shelf_life_days or 0)


def channel_known_keys(identities: list[ContactIdentity]) -> set[str]:
    kinds = {identity.kind for identity in identities}
    return ({"phone"} if kinds & {"phone", "whatsapp"} else set()) | ({"email"} if "email" in kinds else set())


def _fact_scope(account: Account, contact: Contact, inbox: Inbox) -> QuerySet[Fact]:
    return Fact.objects.filter(account=account, contact=contact).filter(Q(inbox=inbox) | Q(inbox__isnull=True))


def recall(*, account: Account, contact: Contact, inbox: Inbox) -> Recall:
    """What the AI and the inbox's team may see about `contact`, in a fixed number of queries."""
    if contact.account_id != account.pk or inbox.account_id != account.pk:
        raise ValueError("recall across accounts")
    small = _small_parts(account=account, contact=contact, inbox=inbox)
    contact._prefetched_objects_cache = {"identities": small["identities"]}  # type: ignore[attr-defined]
    conversations: list[Conversation] = small["conversations"]
    history: list[Message] = small["history"]
    notes = {note.conversation_id: note for note in small["notes"]}
    facts: list[Fact] = small["facts"]
    history_facts: list[Fact] = small["fact_history"]
    readings: list[SentimentReading] = small["readings"]
    current = conversations[0] if conversations else None
    conversation_readings = [r for r in readings if current is not None and r.conversation_id == current.pk]
    handoffs: list[Handoff] = small["handoffs"]
    definitions: dict[str, Definition] = small["definitions"]
    # Known: what memory holds (the customer's unconfirmed claims too), and what the channel already tells — the
    # number an SMS, WhatsApp or call comes from, the address an email comes from. Never asked again.
    known = {f.key for f in facts} | channel_known_keys(small["identities"])
    missing = [d.key for d in definitions.values() if d.required_before_handoff and d.key not in known]
    now = timezone.now()
    stale = [f.key for f in facts if (d := definitions.get(f.key)) is not None and is_stale(f, d.shelf_life_days, now)]
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
        stale=stale,
    )


# The small parts of a recall (identities, conversations, their current notes, the latest readings, handoffs and
# the inbox's definitions) in one statement: each is a handful of rows, and one round trip plus one JSON decode
# costs a fraction of six ORM queries.
_SMALL_PARTS_SQL = """
WITH convs AS (
    SELECT * FROM inbox_conversation
    WHERE account_id = %(account)s AND inbox_id = %(inbox)s AND contact_id = %(contact)s
      AND merged_into_id IS NULL
    ORDER BY last_activity_at DESC, id DESC LIMIT %(conversations)s
)
SELECT
  (SELECT coalesce(json_agg(json_build_object(
        'row', m,
        'sender', (SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email) FROM accounts_user u
                   WHERE u.id = m.sender_user_id),
        'attachments', (SELECT coalesce(json_agg(a ORDER BY a.id), '[]') FROM inbox_attachment a
                        WHERE a.message_id = m.id),
        'sentiment', (SELECT row_to_json(r) FROM memory_sentimentreading r WHERE r.message_id = m.id))
     ORDER BY m.created_at, m.id), '[]')
     FROM (SELECT * FROM inbox_message
           WHERE account_id = %(account)s AND contact_id = %(contact)s AND inbox_id = %(inbox)s
           ORDER BY created_at DESC, id DESC LIMIT %(history)s) m),
  (SELECT coalesce(json_agg(t ORDER BY t.kind, t.id), '[]') FROM contacts_contactidentity t
    WHERE t.account_id = %(account)s AND t.contact_id = %(contact)s),
  (SELECT coalesce(json_agg(t ORDER BY t.last_activity_at DESC, t.id DESC), '[]') FROM convs t),
  (SELECT coalesce(json_agg(json_build_object('row', n, 'author', (
        SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email) FROM accounts_user u
        WHERE u.id = n.author_user_id))), '[]')
     FROM memory_ainote n
    WHERE n.account_id = %(account)s AND n.inbox_id = %(inbox)s AND n.is_current
      AND n.conversation_id IN (SELECT id FROM convs)),
  (SELECT coalesce(json_agg(t), '[]') FROM (
     SELECT * FROM memory_sentimentreading
     WHERE account_id = %(account)s AND contact_id = %(contact)s AND inbox_id = %(inbox)s
     ORDER BY created_at DESC, id DESC LIMIT %(readings)s) t),
  (SELECT coalesce(json_agg(json_build_object(
        'row', h,
        'from_inbox', (SELECT json_build_object('id', i.id, 'name', i.name) FROM inbox_inbox i
                       WHERE i.id = h.from_inbox_id),
        'to_inbox', (SELECT json_build_object('id', i.id, 'name', i.name) FROM inbox_inbox i
                     WHERE i.id = h.to_inbox_id),
        'to_user', (SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email) FROM accounts_user u
                    WHERE u.id = h.to_user_id),
        'author', (SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email) FROM accounts_user u
                   WHERE u.id = h.author_user_id))
     ORDER BY h.created_at DESC, h.id DESC), '[]')
     FROM (SELECT * FROM memory_handoff
           WHERE account_id = %(account)s AND contact_id = %(contact)s
             AND (from_inbox_id = %(inbox)s OR to_inbox_id = %(inbox)s)
           ORDER BY created_at DESC, id DESC LIMIT %(handoffs)s) h),
  (SELECT coalesce(json_agg(t ORDER BY t.created_at, t.id), '[]') FROM memory_factdefinition t
    WHERE t.account_id = %(account)s AND t.inbox_id = %(inbox)s),
  (SELECT coalesce(json_agg(json_build_object(
        'row', f,
        'author', (SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email) FROM accounts_user u
                   WHERE u.id = f.author_user_id),
        'confirmed_by', (SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email)
                         FROM accounts_user u WHERE u.id = f.confirmed_by_id),
        'source', (SELECT json_build_object('id', m.id, 'conversation_id', m.conversation_id, 'channel', m.channel,
                                            'body', left(m.body, 500),
                                            'created_at', m.created_at)
                   FROM inbox_message m WHERE m.id = f.source_message_id))
     ORDER BY f.past, CASE WHEN f.past = 0 THEN f.key END, f.changed_at DESC, f.id DESC), '[]')
     FROM (
       (SELECT *, 0 AS past FROM memory_fact
         WHERE account_id = %(account)s AND contact_id = %(contact)s
           AND (inbox_id = %(inbox)s OR inbox_id IS NULL) AND status = 'active')
       UNION ALL
       (SELECT *, 1 AS past FROM memory_fact
         WHERE account_id = %(account)s AND contact_id = %(contact)s
           AND (inbox_id = %(inbox)s OR inbox_id IS NULL) AND status <> 'active'
         ORDER BY changed_at DESC, id DESC LIMIT %(fact_history)s)
     ) f)
"""


def _model_from_json(model: type[Any], row: dict[str, Any]) -> Any:
    """A model instance from a row that PostgreSQL turned into JSON, as if the ORM had loaded it."""
    names, values = [], []
    for model_field in model._meta.concrete_fields:
        value = row.get(model_field.column)
        if value is not None and isinstance(model_field, DateTimeField):
            value = parse_datetime(value)
        names.append(model_field.attname)
        values.append(value)
    return model.from_db("default", names, values)


def _user_from_json(data: dict[str, Any] | None) -> User | None:
    return User(id=data["id"], name=data["name"], email=data["email"]) if data else None


def _small_parts(*, account: Account, contact: Contact, inbox: Inbox) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            _SMALL_PARTS_SQL,
            {
                "account": account.pk,
                "contact": contact.pk,
                "inbox": inbox.pk,
                "conversations": CONVERSATION_LIMIT,
                "readings": TREND_READINGS,
                "handoffs": HANDOFF_LIMIT,
                "fact_history": FACT_HISTORY_LIMIT,
                "history": HISTORY_LIMIT,
            },
        )
        messages, identities, conversations, notes, readings, handoffs, definitions, facts = cursor.fetchone()
    inbox_names = {inbox.pk: inbox}
    parsed_notes = []
    for item in notes:
        note = _model_from_json(AiNote, item["row"])
        note.author_user = _user_from_json(item["author"])
        parsed_notes.append(note)
    parsed_handoffs = []
    for item in handoffs:
        handoff = _model_from_json(Handoff, item["row"])
        for side in ("from_inbox", "to_inbox"):
            data = item[side]
            setattr(handoff, side, inbox_names.get(data["id"]) or Inbox(id=data["id"], name=data["name"]))
        handoff.to_user = _user_from_json(item["to_user"])
        handoff.author_user = _user_from_json(item["author"])
        parsed_handoffs.append(handoff)
    history = []
    for item in messages:
        message = _model_from_json(Message, item["row"])
        message.sender_user = _user_from_json(item["sender"])
        message._prefetched_objects_cache = {  # type: ignore[attr-defined]
            "attachments": [_model_from_json(Attachment, row) for row in item["attachments"]]
        }
        # the message's reading, as select_related("sentiment") would have cached it (None: not read yet)
        reading = item.get("sentiment")
        message._state.fields_cache["sentiment"] = _model_from_json(SentimentReading, reading) if reading else None
        history.append(message)
    parsed_facts = []
    for item in facts:
        fact = _model_from_json(Fact, item["row"])
        fact.author_user = _user_from_json(item["author"])
        fact.confirmed_by = _user_from_json(item["confirmed_by"])
        source = item["source"]
        fact.source_message = _model_from_json(Message, source) if source else None
        parsed_facts.append(fact)
    rows = [_model_from_json(FactDefinition, row) for row in definitions]
    return {
        "history": history,  # oldest first: how a person and a prompt read a thread
        "identities": [_model_from_json(ContactIdentity, row) for row in identities],
        "conversations": [_model_from_json(Conversation, row) for row in conversations],
        "notes": parsed_notes,
        "readings": [_model_from_json(SentimentReading, row) for row in readings],
        "handoffs": parsed_handoffs,
        "definitions": definitions_from_rows(rows),
        "facts": [f for f in parsed_facts if f.status == FactStatus.ACTIVE],
        "fact_history": [f for f in parsed_facts if f.status != FactStatus.ACTIVE],
    }


def _trend(readings: QuerySet[SentimentReading]) -> Trend:
    return Trend.from_readings(list(readings.order_by("-created_at", "-id")[:TREND_READINGS]))


def conversation_trend(*, account: Account, conversation: Conversation) -> Trend:
    return _trend(SentimentReading.objects.filter(account=account, conversation=conversation))


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


def fact_visible_list(*, account: Account, inboxes: QuerySet[Inbox]) -> QuerySet[Fact]:
    """Facts a member may see: from one of `inboxes` (theirs), or shared by the account."""
    return (
        Fact.objects.filter(account=account)
        .filter(Q(inbox__in=inboxes) | Q(inbox__isnull=True))
        .select_related("author_user", "confirmed_by", "source_message")
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
    return FactDefinition.objects.filter(account=account, inbox=inbox).order_by("created_at", "id")


def contact_trend(*, account: Account, contact: Contact, inbox: Inbox) -> Trend:
    return _trend(SentimentReading.objects.filter(account=account, contact=contact, inbox=inbox))


@dataclass
class MergeSuggestion:
    """Another customer record that is likely the same person: one of them said an address is theirs (a fact
    nobody confirmed yet) and the other writes from it. A person decides, after the merge preview."""

    contact: Contact
    key: str
    value: str
    claimed_by_other: bool  # the other contact said it; else this contact said the other's address


def merge_suggestions(*, account: Account, contact: Contact, memory: Recall | None = None) -> list[MergeSuggestion]:
    """Other live records of the same person, likely: another contact claimed (said, unconfirmed) one of this
    contact's phones or emails, or this contact claimed another's. With the contact's `memory` at hand its
    identities and facts are not read again: one query, two when this contact claimed an address."""
    if memory is not None:
        identities = [i for i in memory.contact.identities.all() if i.kind in ("phone", "email")]
        facts = [f for f in memory.facts if f.key in ("phone", "email")]
    else:
        identities = list(ContactIdentity.objects.filter(account=account, contact=contact, kind__in=["phone", "email"]))
        facts = list(Fact.objects.filter(account=account, contact=contact, key__in=["phone", "email"], status="active"))
    own_values = {i.value for i in identities}
    found: dict[int, MergeSuggestion] = {}
    if own_values:
        claims = (
            Fact.objects.filter(account=account, key__in=["phone", "email"], status=FactStatus.ACTIVE,
                                value__in=own_values, confirmed_by__isnull=True, contact__merged_into__isnull=True)
            .exclude(contact=contact)
            .select_related("contact")
        )  # fmt: skip
        for fact in claims:
            found.setdefault(fact.contact_id, MergeSuggestion(fact.contact, fact.key, fact.value, True))
    claimed = {f.value: f.key for f in facts if f.value not in own_values}
    if claimed:
        owners = (
            ContactIdentity.objects.filter(account=account, value__in=list(claimed), contact__merged_into__isnull=True)
            .exclude(contact=contact)
            .select_related("contact")
        )
        for identity in owners:
            found.setdefault(
                identity.contact_id, MergeSuggestion(identity.contact, claimed[identity.value], identity.value, False)
            )
    return list(found.values())[:5]

"""Writes to Shared Memory, from the AI pipeline and from people. Each one audits itself and publishes
`memory.updated` to the inbox(es) that may see it, after commit.

The rule that makes memory trustworthy: a fact a person entered, confirmed or corrected is never replaced by
the AI, and a value a person rejected is not brought back by it.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone

from accounts.errors import Conflict, ServiceError
from accounts.locks import advisory_xact_lock
from accounts.models import Account, User
from accounts.services import audit_log_record
from contacts.models import Contact
from inbox import events
from inbox.models import Conversation, HandledBy, Inbox, Message, Status
from inbox.services import conversation_open, conversation_set_status

from .definitions import definition_get, definitions_for, pattern_check, value_clean
from .models import AiNote, AuthorType, Fact, FactDefinition, FactStatus, Handoff, SentimentLabel, SentimentReading


def _publish(account: Account, inbox_ids: list[int], contact_id: int, kind: str, **extra: Any) -> None:
    for inbox_id in inbox_ids:
        events.publish(account.pk, inbox_id, "memory.updated", {"contact_id": contact_id, "kind": kind, **extra})


def _fact_inboxes(account: Account, fact: Fact) -> list[int]:
    if fact.inbox_id is not None:
        return [fact.inbox_id]
    return list(Inbox.objects.filter(account=account).values_list("id", flat=True))  # shared: every inbox


def _same_account(account: Account, *objects: Any) -> None:
    for obj in objects:
        if obj is not None and obj.account_id != account.pk:
            raise ServiceError("That object is not in this account.")


def _active_fact(account: Account, contact: Contact, scope: Inbox | None, key: str) -> Fact | None:
    # One writer per contact, scope and key at a time: the AI pipeline and a person may race.
    advisory_xact_lock(f"fact:{contact.pk}:{scope.pk if scope else 'shared'}:{key}")
    return (
        Fact.objects.filter(account=account, contact=contact, inbox=scope, key=key, status=FactStatus.ACTIVE)
        .order_by("-created_at", "-id")
        .first()
    )


IDENTITY_KEYS = {"phone": "phone", "email": "email"}
# The "engine" of a value a webchat visitor typed into the pre-chat form: their own unverified claim.
PRE_CHAT = "pre-chat form"


def _learn_identity(account: Account, fact: Fact, actor: User | None) -> None:
    """A phone number or email learned in a conversation becomes one of the contact's addresses, so the
    customer's next text or email from it lands on the same contact. An address that already belongs to another
    contact is left alone: that is a merge for a person to decide. A learned name names the contact."""
    from contacts.models import ContactIdentity
    from contacts.services import identity_add

    if fact.key == "name":
        # The contact's display name: the AI fills a blank one; a person's word replaces it.
        contact = fact.contact
        if actor is not None or not contact.name:
            Contact.objects.filter(pk=contact.pk).update(name=fact.value[:200])
            contact.name = fact.value[:200]
        return
    kind = IDENTITY_KEYS.get(fact.key)
    if kind is None or ContactIdentity.objects.filter(account=account, kind=kind, value=fact.value).exists():
        return
    if actor is None:
        # Read from what someone wrote: a claim, not an address. It routes messages only once a person confirms
        # it (or the customer writes from it, which makes it an identity of whoever writes).
        return
    with contextlib.suppress(ServiceError):
        identity_add(account=account, actor=actor, contact=fact.contact, kind=kind, raw_value=fact.value)


def is_fragment(value: str, *, of: str) -> bool:
    """`value` is a shorter part of `of`: some of its words ("Rosa" of "Rosa Diaz"), or the last digits of a
    number ("5550188" of "+13125550188"). Case and separators are ignored."""
    digits, full_digits = re.sub(r"\D", "", value), re.sub(r"\D", "", of)
    if digits and not re.search(r"[^\W\d_]", value):  # a number: its last digits
        return len(digits) < len(full_digits) and full_digits.endswith(digits)
    words, full_words = re.findall(r"\w+", value.casefold()), re.findall(r"\w+", of.casefold())
    return bool(words) and len(words) < len(full_words) and set(words) <= set(full_words)


def _channel(conversation: Conversation | None, message: Message | None) -> str:
    if message is not None:
        return str(message.channel)
    return str(conversation.active_channel) if conversation is not None else ""


def _supersede(old: Fact | None, new: Fact) -> None:
    if old is None:
        return
    old.status = FactStatus.SUPERSEDED
    old.superseded_by = new
    old.changed_at = timezone.now()
    old.save(update_fields=["status", "superseded_by", "changed_at"])


@transaction.atomic
def fact_record_ai(
    *,
    account: Account,
    contact: Contact,
    inbox: Inbox,
    key: str,
    value: str,
    confidence: float,
    engine: str,
    conversation: Conversation | None = None,
    source_message: Message | None = None,
) -> Fact | None:
    """Record what the AI extracted. Returns the fact that now stands for the key (which may be a person's),
    or None when the key is not one the inbox remembers or the value does not fit its definition."""
    _same_account(account, contact, inbox, conversation, source_message)
    definition = definition_get(account=account, inbox=inbox, key=key)
    if definition is None:
        return None
    try:
        value = value_clean(definition, value, region=account.default_region)
    except ServiceError:
        return None
    scope = None if definition.shared else inbox
    current = _active_fact(account, contact, scope, key)
    confidence = max(0.0, min(1.0, float(confidence)))
    if current is not None and current.value.casefold() == value.casefold():
        if current.author_type == AuthorType.AI and confidence > current.confidence:
            current.confidence = confidence
            current.save(update_fields=["confidence"])
        return current
    if current is not None and current.protected:
        return current  # a person's value stands
    if current is not None and is_fragment(value, of=current.value):
        return current  # "Rosa" never replaces "Rosa Diaz", nor "5550188" "+13125550188"
    rejected = Fact.objects.filter(
        account=account, contact=contact, inbox=scope, key=key, status=FactStatus.REJECTED, value__iexact=value
    )
    if rejected.exists():
        return current
    fact = Fact.objects.create(
        account=account,
        contact=contact,
        inbox=scope,
        key=key,
        value=value,
        confidence=confidence,
        conversation=conversation,
        source_message=source_message,
        origin_inbox=inbox,
        origin_channel=_channel(conversation, source_message),
        author_type=AuthorType.AI,
        engine=engine,
    )
    _supersede(current, fact)
    _learn_identity(account, fact, None)
    audit_log_record(
        account=account,
        actor=None,
        action="memory.fact_recorded",
        target=fact,
        data={"key": key, "engine": engine, "contact": contact.pk, "replaced": current.pk if current else None},
    )
    _publish(account, _fact_inboxes(account, fact), contact.pk, "fact", key=key)
    return fact


@transaction.atomic
def fact_set(
    *,
    account: Account,
    actor: User,
    contact: Contact,
    inbox: Inbox,
    key: str,
    value: str,
    conversation: Conversation | None = None,
) -> Fact:
    """A person adds or corrects a fact. The new value is confirmed by them and supersedes the old one."""
    _same_account(account, contact, inbox, conversation)
    if contact.merged_into_id is not None:
        raise Conflict(f"This contact was merged into contact {contact.merged_into_id}; use that one.")
    key = key.strip().lower()
    definition = definition_get(account=account, inbox=inbox, key=key)
    if definition is None:
        known = ", ".join(definitions_for(account=account, inbox=inbox))
        raise ServiceError(
            f"{key!r} is not a fact the {inbox.name} inbox remembers (it knows: {known}); an admin can add it "
            "in the inbox's settings.",
            field="key",
        )
    value = value_clean(definition, value, region=account.default_region)
    scope = None if definition is not None and definition.shared else inbox
    current = _active_fact(account, contact, scope, key)
    if current is not None and current.value == value:
        return fact_confirm(account=account, actor=actor, fact=current)
    now = timezone.now()
    fact = Fact.objects.create(
        account=account,
        contact=contact,
        inbox=scope,
        key=key,
        value=value,
        confidence=1.0,
        conversation=conversation,
        origin_inbox=inbox,
        origin_channel=_channel(conversation, None),
        author_type=AuthorType.USER,
        author_user=actor,
        confirmed_by=actor,
        confirmed_at=now,
    )
    _supersede(current, fact)
    _learn_identity(account, fact, actor)
    audit_log_record(
        account=account,
        actor=actor,
        action="memory.fact_corrected" if current else "memory.fact_added",
        target=fact,
        data={"key": key, "contact": contact.pk, "from": current.value if current else None, "to": value},
    )
    _publish(account, _fact_inboxes(account, fact), contact.pk, "fact", key=key)
    return fact


RECONFIRM_AFTER = timedelta(hours=1)  # a double click is one confirmation; a later one renews the value


@transaction.atomic
def fact_confirm(*, account: Account, actor: User, fact: Fact) -> Fact:
    _same_account(account, fact)
    fact = Fact.objects.select_for_update().get(pk=fact.pk)
    if fact.status != FactStatus.ACTIVE:
        raise Conflict("Only a current fact can be confirmed; this one was replaced or rejected.", field="fact")
    # confirming again renews the value (a stale address a person checked by phone): confirmed_at moves on
    if (
        fact.confirmed_by_id is None
        or fact.confirmed_at is None
        or fact.confirmed_at < timezone.now() - RECONFIRM_AFTER
    ):
        fact.confirmed_by = fact.confirmed_by or actor
        fact.confirmed_at = timezone.now()
        fact.save(update_fields=["confirmed_by", "confirmed_at"])
        audit_log_record(
            account=account, actor=actor, action="memory.fact_confirmed", target=fact, data={"key": fact.key}
        )
        _learn_identity(account, fact, actor)
        _publish(account, _fact_inboxes(account, fact), fact.contact_id, "fact", key=fact.key)
    return fact


@transaction.atomic
def fact_renew(*, account: Account, fact: Fact, source_message: Message | None = None) -> Fact:
    """The customer said a stale value still holds (asked by the AI): it is fresh again, as of now."""
    _same_account(account, fact)
    fact = Fact.objects.select_for_update().get(pk=fact.pk)
    if fact.status != FactStatus.ACTIVE:
        return fact
    fact.renewed_at = timezone.now()
    fact.save(update_fields=["renewed_at"])
    audit_log_record(account=account, actor=None, action="memory.fact_renewed", target=fact,
                     data={"key": fact.key, "message": source_message.pk if source_message else None})  # fmt: skip
    _publish(account, _fact_inboxes(account, fact), fact.contact_id, "fact", key=fact.key)
    return fact


@transaction.atomic
def fact_reject(*, account: Account, actor: User, fact: Fact) -> Fact:
    """A person says the value is wrong: it leaves the active memory and the AI will not bring it back."""
    _same_account(account, fact)
    fact = Fact.objects.select_for_update().get(pk=fact.pk)
    if fact.status == FactStatus.REJECTED:
        return fact
    fact.status = FactStatus.REJECTED
    fact.changed_at = timezone.now()
    fact.save(update_fields=["status", "changed_at"])
    audit_log_record(
        account=account,
        actor=actor,
        action="memory.fact_rejected",
        target=fact,
        data={"key": fact.key, "value": fact.value},
    )
    _publish(account, _fact_inboxes(account, fact), fact.contact_id, "fact", key=fact.key)
    return fact


@transaction.atomic
def note_write(
    *,
    account: Account,
    conversation: Conversation,
    need: str = "",
    status: str = "",
    next_step: str = "",
    open_questions: list[str] | None = None,
    source_message_ids: list[int] | None = None,
    engine: str = "",
    author_user: User | None = None,
) -> AiNote:
    """A new current version of the conversation's note (the AI regenerating it, or a person editing it)."""
    _same_account(account, conversation)
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    latest = AiNote.objects.filter(conversation=conversation).aggregate(v=Max("version"))["v"] or 0
    AiNote.objects.filter(conversation=conversation, is_current=True).update(is_current=False)
    note = AiNote.objects.create(
        account=account,
        contact_id=conversation.contact_id,
        inbox_id=conversation.inbox_id,
        conversation=conversation,
        version=latest + 1,
        need=need.strip(),
        status=status.strip(),
        next_step=next_step.strip(),
        open_questions=[q.strip() for q in open_questions or [] if q.strip()],
        source_message_ids=list(source_message_ids or []),
        author_type=AuthorType.USER if author_user is not None else AuthorType.AI,
        author_user=author_user,
        engine=engine if author_user is None else "",
    )
    audit_log_record(
        account=account,
        actor=author_user,
        action="memory.note_written",
        target=note,
        data={"conversation": conversation.pk, "version": note.version, "engine": note.engine},
    )
    _publish(account, [conversation.inbox_id], conversation.contact_id, "note", conversation_id=conversation.pk)
    return note


def sentiment_label(score: float) -> str:
    if score >= 0.05:
        return SentimentLabel.POSITIVE
    if score <= -0.05:
        return SentimentLabel.NEGATIVE
    return SentimentLabel.NEUTRAL


@transaction.atomic
def sentiment_record(
    *, account: Account, message: Message, score: float, engine: str, language: str = ""
) -> SentimentReading:
    """The reading of a customer's message (one per message: scoring again replaces the reading)."""
    _same_account(account, message)
    if message.direction != "in":
        raise ServiceError("Sentiment is read from the customer's messages only.", field="message")
    score = max(-1.0, min(1.0, float(score)))
    conversation = message.conversation
    reading, _ = SentimentReading.objects.update_or_create(
        message=message,
        defaults={
            "account": account,
            "contact_id": message.contact_id,
            "inbox_id": conversation.inbox_id,
            "conversation": conversation,
            "score": score,
            "label": sentiment_label(score),
            "engine": engine,
            "language": language[:8],
            "created_at": message.created_at,
        },
    )
    _publish(account, [conversation.inbox_id], message.contact_id, "sentiment", conversation_id=conversation.pk)
    return reading


@transaction.atomic
def handoff_record(
    *,
    account: Account,
    conversation: Conversation,
    reason: str,
    from_party: str,
    author_user: User | None = None,
    engine: str = "",
    to_user: User | None = None,
    to_inbox: Inbox | None = None,
    to_conversation: Conversation | None = None,
    what_was_done: dict[str, Any] | None = None,
    missing: list[str] | None = None,
    suggested_next_step: str = "",
    suggested_channel: str = "",
) -> Handoff:
    """Write down a change of hands with its context; the sentiment is taken from the conversation's trend."""
    from .selectors import conversation_trend  # selectors read what services wrote; imported late to stay acyclic

    _same_account(account, conversation, to_inbox, to_conversation)
    if not reason.strip():
        raise ServiceError("Say why the conversation changes hands.", field="reason")
    trend = conversation_trend(account=account, conversation=conversation)
    handoff = Handoff.objects.create(
        account=account,
        contact_id=conversation.contact_id,
        conversation=conversation,
        from_inbox_id=conversation.inbox_id,
        to_inbox=to_inbox or conversation.inbox,
        to_conversation=to_conversation,
        from_party=from_party,
        to_user=to_user,
        reason=reason.strip(),
        what_was_done=what_was_done or {},
        missing=list(missing or []),
        sentiment_score=trend.mean,
        sentiment_label=trend.label or "",
        suggested_next_step=suggested_next_step,
        suggested_channel=suggested_channel,
        author_type=AuthorType.USER if author_user is not None else AuthorType.AI,
        author_user=author_user,
        engine=engine if author_user is None else "",
    )
    audit_log_record(
        account=account,
        actor=author_user,
        action="memory.handoff_recorded",
        target=handoff,
        data={"conversation": conversation.pk, "to_inbox": handoff.to_inbox_id, "reason": handoff.reason[:200]},
    )
    inboxes = sorted({handoff.from_inbox_id, handoff.to_inbox_id})
    _publish(account, inboxes, conversation.contact_id, "handoff", conversation_id=conversation.pk)
    events.announce(account.pk, handoff.to_inbox_id, "handoff.created", {
        "handoff": {
            "id": handoff.pk,
            "conversation_id": conversation.pk,
            "contact_id": conversation.contact_id,
            "from_inbox_id": handoff.from_inbox_id,
            "to_inbox_id": handoff.to_inbox_id,
            "to_user_id": handoff.to_user_id,
            "from_party": handoff.from_party,
            "reason": handoff.reason,
            "what_was_done": handoff.what_was_done,
            "missing": handoff.missing,
            "suggested_next_step": handoff.suggested_next_step,
            "suggested_channel": handoff.suggested_channel,
            "sentiment_label": handoff.sentiment_label,
            "created_at": handoff.created_at.isoformat(),
        }
    })  # fmt: skip
    return handoff


@transaction.atomic
def conversation_move(
    *,
    account: Account,
    actor: User,
    conversation: Conversation,
    to_inbox: Inbox,
    reason: str,
    suggested_next_step: str = "",
) -> Handoff:
    """Send the customer to another team. The other inbox gets a new conversation and a handoff saying what
    happened; it does not get this inbox's private notes, AI notes or inbox-scoped facts (those stay here).
    This conversation is resolved with a pointer."""
    _same_account(account, conversation, to_inbox)
    if to_inbox.pk == conversation.inbox_id:
        raise ServiceError("The conversation is already in that inbox.", field="to_inbox")
    source_inbox = conversation.inbox
    last_customer_words = (
        Message.objects.filter(conversation=conversation, direction="in", kind="message")
        .order_by("-created_at", "-id")
        .values_list("body", flat=True)[:3]
    )
    target = conversation_open(
        account=account,
        actor=actor,
        inbox=to_inbox,
        contact=conversation.contact,
        channel=conversation.active_channel,
        handled_by=HandledBy.HUMAN,
        status=Status.LIVE,
        activity=f"{actor.display_name} moved this customer here from {source_inbox.name}: {reason.strip()}",
    )
    handoff = handoff_record(
        account=account,
        conversation=conversation,
        reason=reason,
        from_party=actor.display_name,
        author_user=actor,
        to_inbox=to_inbox,
        to_conversation=target,
        what_was_done={"from_inbox": source_inbox.name, "customer_said": list(reversed(last_customer_words))},
        suggested_next_step=suggested_next_step,
        suggested_channel=conversation.active_channel,
    )
    conversation_set_status(account=account, actor=actor, conversation=conversation, status=Status.RESOLVED)
    return handoff


@transaction.atomic
def fact_definition_create(*, account: Account, actor: User | None, inbox: Inbox, **values: Any) -> FactDefinition:
    _same_account(account, inbox)
    if values.get("pattern"):
        pattern_check(values["pattern"])
    if FactDefinition.objects.filter(inbox=inbox, key=values["key"]).exists():
        raise Conflict(f"This inbox already remembers {values['key']!r}.", field="key")
    definition = FactDefinition.objects.create(account=account, inbox=inbox, **values)
    audit_log_record(
        account=account,
        actor=actor,
        action="memory.definition_created",
        target=definition,
        data={"inbox": inbox.pk, "key": definition.key},
    )
    return definition


@transaction.atomic
def fact_definition_update(
    *, account: Account, actor: User, definition: FactDefinition, **changes: Any
) -> FactDefinition:
    _same_account(account, definition)
    if changes.get("pattern"):
        pattern_check(changes["pattern"])
    if "key" in changes and changes["key"] != definition.key:
        raise ServiceError(
            "A key cannot be renamed: facts are stored under it. Add a new definition instead.", field="key"
        )
    for field, value in changes.items():
        setattr(definition, field, value)
    if changes:
        definition.save(update_fields=list(changes))
        audit_log_record(
            account=account,
            actor=actor,
            action="memory.definition_updated",
            target=definition,
            data={"fields": sorted(changes)},
        )
    return definition


@transaction.atomic
def fact_definition_delete(*, account: Account, actor: User, definition: FactDefinition) -> None:
    """Stop remembering a key. Facts already recorded under it stay, with their history."""
    _same_account(account, definition)
    audit_log_record(
        account=account,
        actor=actor,
        action="memory.definition_deleted",
        target=definition,
        data={"key": definition.key},
    )
    definition.delete()


# --- Merging contacts: one current value per key, readings follow their messages -------------------------------


def memory_fold(account: Account, contact: Contact, actor: User | None = None) -> dict[str, Any]:
    """A merge step (contacts.services), after the conversations were folded: duplicate current facts for one
    key and scope collapse to one (a person's word beats the AI's, then the newest), and sentiment readings
    follow their messages into the continuing conversation. A claim (a phone or email read from a message or typed
    into the pre-chat form) that is now one of the contact's own addresses was verified by the person who merged:
    it is confirmed in their name. Returns what changed, for the undo."""
    from contacts.models import ContactIdentity

    confirmed: list[int] = []
    if actor is not None:
        owned = set(ContactIdentity.objects.filter(account=account, contact=contact).values_list("kind", "value"))
        claims = Fact.objects.filter(
            account=account, contact=contact, status=FactStatus.ACTIVE, author_type="ai", confirmed_by__isnull=True,
            key__in=list(IDENTITY_KEYS),
        )  # fmt: skip
        confirmed = [f.pk for f in claims if (IDENTITY_KEYS[f.key], f.value) in owned]
        if confirmed:
            Fact.objects.filter(pk__in=confirmed).update(confirmed_by=actor, confirmed_at=timezone.now())
    active = list(
        Fact.objects.select_for_update()
        .filter(account=account, contact=contact, status=FactStatus.ACTIVE)
        .order_by("inbox_id", "key")
    )
    groups: dict[tuple[int | None, str], list[Fact]] = {}
    for fact in active:
        groups.setdefault((fact.inbox_id, fact.key), []).append(fact)
    superseded: list[int] = []
    now = timezone.now()
    for facts in groups.values():
        if len(facts) < 2:
            continue
        winner = max(facts, key=lambda f: (f.protected, f.created_at, f.pk))
        losers = [f.pk for f in facts if f.pk != winner.pk]
        Fact.objects.filter(pk__in=losers).update(status=FactStatus.SUPERSEDED, superseded_by=winner, changed_at=now)
        superseded.extend(losers)
    moved_readings = [
        [reading_id, conversation_id]
        for reading_id, conversation_id in SentimentReading.objects.filter(account=account, contact=contact)
        .exclude(conversation=F("message__conversation"))
        .values_list("pk", "conversation_id")
    ]
    if moved_readings:
        SentimentReading.objects.filter(pk__in=[reading_id for reading_id, _old in moved_readings]).update(
            conversation_id=Subquery(Message.objects.filter(pk=OuterRef("message_id")).values("conversation_id")[:1])
        )
    if superseded:
        _publish(account, list(Inbox.objects.filter(account=account).values_list("pk", flat=True)), contact.pk, "fact")
    return {"superseded": superseded, "readings": moved_readings, "confirmed": confirmed}


def memory_unfold(account: Account, record: dict[str, Any]) -> None:
    Fact.objects.filter(account=account, pk__in=record.get("confirmed", [])).update(
        confirmed_by=None, confirmed_at=None
    )
    Fact.objects.filter(account=account, pk__in=record.get("superseded", [])).update(
        status=FactStatus.ACTIVE, superseded_by=None, changed_at=timezone.now()
    )
    for reading_id, conversation_id in record.get("readings", []):
        SentimentReading.objects.filter(account=account, pk=reading_id).update(conversation_id=conversation_id)

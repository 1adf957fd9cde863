"""The AI pipeline (queue `ai`): every customer message is analyzed — sentiment, facts, intents — and the
conversation's note is refreshed, debounced so that a burst of messages costs one note."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.services import audit_log_record
from accounts.tenant_db import db_retry, tenant_task
from inbox.models import Conversation, Inbox, Message
from memory.definitions import definitions_for
from memory.models import SentimentReading
from memory.patterns import PATTERN_TIMEOUT
from memory.selectors import recall
from memory.services import fact_record_ai, note_write, sentiment_record

from .answers import answer_fact, asked_key
from .engines.base import Analysis
from .engines.registry import engine_for
from .language import detect_language
from .models import AgentSettings

logger = logging.getLogger(__name__)

NOTE_DEBOUNCE_SECONDS = 1.0
ANALYSIS_MAX_CHARS = 20_000
_PENDING_NOTE = "ai:note-pending:{conversation_id}"


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=2, time_limit=60, soft_time_limit=50)
@db_retry
@tenant_task
def analyze_message(self, account_id: int, message_id: int) -> str:  # type: ignore[no-untyped-def]
    """Read one inbound message into memory. Idempotent: a message already read is skipped."""
    message = (
        Message.objects.select_related("account", "conversation", "inbox", "contact")
        .filter(account_id=account_id, pk=message_id, direction="in", kind="message")
        .first()
    )
    if message is None:
        return "gone"  # rolled back, deleted, or not a customer's message
    if SentimentReading.objects.filter(message=message).exists():
        return "already analyzed"
    if message.metadata.get("automated"):  # a bounce or an auto-reply: never answered, nothing learned from it
        return "automated"
    account = message.account
    try:
        analysis = read_message(message)
    except OperationalError as exc:  # the database went away for a moment: try again shortly
        raise self.retry(exc=exc) from exc
    schedule_note_refresh(account_id=account.pk, conversation_id=message.conversation_id)
    # A turn only where an agent can act: no task, and no recall, for inboxes whose agent is off.
    agent_on = AgentSettings.objects.filter(inbox_id=message.inbox_id, enabled=True).exclude(answer_mode="never")
    # A call that has no words yet (it is ringing, or the caller hung up) waits for its transcript.
    wordless_call = message.channel == "voice" and not message.body.strip()
    if message.conversation.handled_by == "ai" and not wordless_call and agent_on.exists():
        run_agent_turn.delay(account.pk, message.pk, sorted(analysis.intents), analysis.urgent, analysis.sentiment)
    return "analyzed"


def read_message(message: Message) -> Analysis:
    """Analyze one customer message with the account's engine and write what it says into memory."""
    account, inbox = message.account, message.inbox
    if not message.body.strip():  # a call with no words yet (ringing, hung up): no mood to read, nothing learned
        return Analysis(sentiment=0.0, facts=[], intents=set(), urgent=False, engine="")
    # A bounded prefix: a 3 MB email costs what its first pages cost (what a customer asks is at the top).
    text = message.body[:ANALYSIS_MAX_CHARS]
    definitions = definitions_for(account=account, inbox=inbox)
    analysis = engine_for(account).analyze(text, definitions=definitions, region=account.default_region)
    # The answer to the AI's own question for a detail, given without its label ("42 Elm Street, ...").
    key = asked_key(message)
    if key is not None and key in definitions and all(fact.key != key for fact in analysis.facts):
        answered = answer_fact(text, definitions[key], region=account.default_region, intents=analysis.intents)
        if answered is not None:
            analysis.facts.append(answered)
    for key in analysis.timed_out:
        _report_pattern_timeout(account=account, inbox=inbox, key=key, message=message)
    with transaction.atomic():
        sentiment_record(
            account=account,
            message=message,
            score=analysis.sentiment,
            engine=analysis.engine,
            language=analysis.language if analysis.language is not None else detect_language(text),
        )
        for fact in analysis.facts:
            fact_record_ai(
                account=account,
                contact=message.contact,
                inbox=inbox,
                key=fact.key,
                value=fact.value,
                confidence=fact.confidence,
                engine=analysis.engine,
                conversation=message.conversation,
                source_message=message,
            )
    return analysis


def _report_pattern_timeout(*, account: Account, inbox: Inbox, key: str, message: Message) -> None:
    """Tell the admins (audit log, at most once an hour per definition); the fact is skipped, nothing retried."""
    if not cache.add(f"ai:pattern-timeout:{inbox.pk}:{key}", 1, timeout=3600):
        return
    logger.warning("fact pattern %s of inbox %s timed out on message %s", key, inbox.pk, message.pk)
    audit_log_record(
        account=account,
        actor=None,
        action="fact_definition.pattern_timeout",
        target=inbox,
        data={
            "key": key,
            "message_id": message.pk,
            "reason": f"The pattern of {key!r} took longer than {PATTERN_TIMEOUT} s on one message; that fact "
            "was skipped. Simplify the pattern (avoid nested repeats such as (a+)+).",
        },
    )


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sweep_unanalyzed() -> int:
    """Beat: queue the analysis of customer messages that have none two minutes after they arrived (their task
    was never published, or was lost); machine mail and wordless calls are left alone."""
    now = timezone.now()
    waiting = (
        Message.objects.filter(
            direction="in",
            kind="message",
            created_at__lt=now - timedelta(seconds=settings.ANALYSIS_SWEEP_AFTER_SECONDS),
            created_at__gt=now - timedelta(days=1),
        )
        .exclude(body="")
        .exclude(metadata__has_key="automated")
        .filter(sentiment__isnull=True)  # no reading yet
        .values_list("account_id", "pk")[:500]
    )
    for account_id, message_id in waiting:
        analyze_message.delay(account_id, message_id)
    return len(waiting)


def schedule_note_refresh(*, account_id: int, conversation_id: int) -> bool:
    """Queue one note refresh for the conversation unless one is already waiting (the debounce)."""
    if not cache.add(_PENDING_NOTE.format(conversation_id=conversation_id), 1, timeout=60):
        return False
    refresh_note.apply_async((account_id, conversation_id), countdown=NOTE_DEBOUNCE_SECONDS)
    return True


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=2, time_limit=60, soft_time_limit=50)
@db_retry
@tenant_task
def refresh_note(self, account_id: int, conversation_id: int) -> str:  # type: ignore[no-untyped-def]
    """Write a new version of the conversation's note from its memory."""
    # Cleared first: a message arriving while this note is written schedules the next refresh.
    cache.delete(_PENDING_NOTE.format(conversation_id=conversation_id))
    conversation = (
        Conversation.objects.select_related("account", "inbox", "contact")
        .filter(account_id=account_id, pk=conversation_id)
        .first()
    )
    if conversation is None:
        return "gone"
    account = conversation.account
    engine = engine_for(account)
    memory = recall(account=account, contact=conversation.contact, inbox=conversation.inbox)
    draft = engine.compose_note(memory)
    current = memory.notes.get(conversation.pk)
    if current is not None and (current.need, current.status, current.next_step) == (
        draft.need,
        draft.status,
        draft.next_step,
    ):
        return "unchanged"
    try:
        note_write(
            account=account,
            conversation=conversation,
            need=draft.need,
            status=draft.status,
            next_step=draft.next_step,
            open_questions=draft.open_questions,
            engine=draft.engine or engine.name,
            source_message_ids=[m.pk for m in memory.history if m.conversation_id == conversation.pk][-20:],
        )
    except OperationalError as exc:
        raise self.retry(exc=exc) from exc
    return "written"


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=2, time_limit=60, soft_time_limit=50)
@db_retry
@tenant_task
def run_agent_turn(self, account_id: int, message_id: int, intents: list[str], urgent: bool, sentiment: float) -> str:  # type: ignore[no-untyped-def]
    """The AI agent's answer to a customer's message. Skipped when a newer customer message is waiting (its own
    turn answers both) or when this message was already answered."""
    from .agent import agent_turn

    message = (
        Message.objects.select_related("account", "conversation")
        .filter(account_id=account_id, pk=message_id, direction="in", kind="message")
        .first()
    )
    if message is None:
        return "gone"
    conversation = message.conversation
    if conversation.handled_by != "ai":
        return "a person owns the conversation"
    if Message.objects.filter(
        conversation=conversation, direction="in", kind="message", created_at__gt=message.created_at
    ).exists():
        return "a newer message will be answered"
    if Message.objects.filter(conversation=conversation, metadata__in_reply_to=message.pk).exists():
        return "already answered"
    analysis = Analysis(sentiment=sentiment, intents=set(intents), urgent=urgent)
    try:
        decision = agent_turn(account=message.account, message=message, analysis=analysis)
    except OperationalError as exc:
        raise self.retry(exc=exc) from exc
    return decision.action


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def run_playbooks_task() -> int:
    """Beat runs this every minute; steps already done are skipped, so a late or doubled tick is harmless."""
    from django.utils import timezone

    from .playbooks import run_playbooks

    return run_playbooks(now=timezone.now())

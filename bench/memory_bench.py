"""Shared Memory reads at volume: recall() for a contact with 10k messages and 2k memory records across 5
inboxes, and a year of sentiment as a daily series.

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/memory_bench.py

Seeds its own account on the first run. Times each call in-process (the selector plus its queries against the
embedded PostgreSQL), prints p50/p95, the query count, and the ratio against a baseline measured in the same run:
fetching the contact by primary key.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import percentile, production_settings  # noqa: E402 - after the path set-up

# Production settings: DEBUG off (with DEBUG on, Django records every query, which costs time per call), with the
# bench's own secret and encryption keys.
production_settings()

SAMPLES = 300
INBOXES = 5
MESSAGES = 10_000
FACTS = 600
NOTES = 300
READINGS = 1_000
HANDOFFS = 100


def seed():  # type: ignore[no-untyped-def]
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Account, User
    from accounts.services import account_create
    from contacts.models import Contact, ContactIdentity
    from inbox.models import Conversation, Inbox, Message
    from memory.models import AiNote, Fact, FactStatus, Handoff, SentimentReading

    account = Account.objects.filter(name="Memory (benchmark)").first()
    if account is not None:
        contact = Contact.objects.get(account=account, name="Heavy Customer")
        return account, contact, list(Inbox.objects.filter(account=account).order_by("id"))
    with transaction.atomic():
        owner = User.objects.create_user(email=f"memory-bench-{time.time_ns()}@example.com", password=None)
        account = account_create(name="Memory (benchmark)", owner=owner)
        contact = Contact.objects.create(account=account, name="Heavy Customer")
        ContactIdentity.objects.create(account=account, contact=contact, kind="phone", value="+15550199999")
        inboxes = [Inbox.objects.create(account=account, name=f"Inbox {n}") for n in range(INBOXES)]
        now = timezone.now()
        conversations = []
        for n, inbox in enumerate(inboxes):
            for c in range(20):
                conversations.append(
                    Conversation(
                        account=account,
                        inbox=inbox,
                        contact=contact,
                        number=n * 100 + c + 1,
                        created_at=now - timedelta(days=365 - c * 18),
                        last_activity_at=now - timedelta(days=c),
                    )
                )
        Conversation.objects.bulk_create(conversations)
        messages = [
            Message(
                account=account,
                conversation=conversations[i % len(conversations)],
                inbox_id=conversations[i % len(conversations)].inbox_id,
                contact=contact,
                direction="in" if i % 2 else "out",
                kind="message",
                channel="sms",
                sender_type="contact" if i % 2 else "user",
                body=f"message number {i}",
                created_at=now - timedelta(minutes=i * 50),
            )
            for i in range(MESSAGES)
        ]
        Message.objects.bulk_create(messages, batch_size=2000)
        inbound = [m for m in messages if m.direction == "in"]
        SentimentReading.objects.bulk_create(
            SentimentReading(
                account=account,
                contact=contact,
                inbox_id=m.conversation.inbox_id,
                conversation=m.conversation,
                message=m,
                score=((i % 21) - 10) / 10,
                label="neutral",
                engine="bench/1",
                created_at=m.created_at,
            )
            for i, m in enumerate(inbound[:READINGS])
        )
        Fact.objects.bulk_create(
            Fact(
                account=account,
                contact=contact,
                inbox=inboxes[i % INBOXES] if i % 7 else None,
                key=f"key_{i % 40}",
                value=f"value {i}",
                status=FactStatus.ACTIVE if i >= FACTS - 40 else FactStatus.SUPERSEDED,
                author_type="ai",
                engine="bench/1",
                created_at=now - timedelta(hours=FACTS - i),
                changed_at=now - timedelta(hours=FACTS - i),
            )
            for i in range(FACTS)
        )
        AiNote.objects.bulk_create(
            AiNote(
                account=account,
                contact=contact,
                inbox_id=conversations[i % len(conversations)].inbox_id,
                conversation=conversations[i % len(conversations)],
                version=i // len(conversations) + 1,
                is_current=i >= NOTES - len(conversations),
                need=f"need {i}",
                author_type="ai",
                engine="bench/1",
            )
            for i in range(NOTES)
        )
        Handoff.objects.bulk_create(
            Handoff(
                account=account,
                contact=contact,
                conversation=conversations[i % len(conversations)],
                from_inbox=inboxes[i % INBOXES],
                to_inbox=inboxes[(i + 1) % INBOXES],
                from_party="AI agent",
                reason=f"reason {i}",
                author_type="ai",
                engine="bench/1",
            )
            for i in range(HANDOFFS)
        )
    from django.db import connection

    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would give a real database
        for table in (
            "inbox_message",
            "inbox_conversation",
            "memory_fact",
            "memory_ainote",
            "memory_sentimentreading",
            "memory_handoff",
        ):
            cursor.execute(f"ANALYZE {table}")
    return account, contact, inboxes


def timed(call, samples: int = SAMPLES) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(20):
        call()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from contacts.models import Contact
    from memory.selectors import recall, sentiment_series

    call_command("migrate", "--noinput", verbosity=0)
    account, contact, inboxes = seed()
    inbox = inboxes[0]
    with CaptureQueriesContext(connection) as queries:
        memory = recall(account=account, contact=contact, inbox=inbox)
    results = {
        "baseline: Contact by primary key": timed(lambda: Contact.objects.filter(pk=contact.pk).first()),
        "recall(contact, inbox)": timed(lambda: recall(account=account, contact=contact, inbox=inbox)),
        "sentiment_series, 365 days": timed(lambda: sentiment_series(account=account, contact=contact, inbox=inbox)),
    }
    base = percentile(results["baseline: Contact by primary key"], 95)
    from inbox.models import Message
    from memory.models import AiNote, Fact, Handoff, SentimentReading

    records = sum(m.objects.filter(contact=contact).count() for m in (Fact, AiNote, SentimentReading, Handoff))
    print(
        f"contact with {Message.objects.filter(contact=contact).count()} messages and {records} memory records "
        f"across {len(inboxes)} inboxes; recall ran {len(queries)} queries and returned {len(memory.history)} "
        f"messages, {len(memory.facts)} facts, {len(memory.handoffs)} handoffs"
    )
    print(f"{'call':<40} {'p50 ms':>7} {'p95 ms':>7} {'p95 vs base':>11}")
    for name, timings in results.items():
        p95 = percentile(timings, 95)
        print(f"{name:<40} {statistics.median(timings):>7.2f} {p95:>7.2f} {p95 / base:>10.1f}x")


if __name__ == "__main__":
    main()

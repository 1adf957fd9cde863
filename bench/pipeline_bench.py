"""AI pipeline latency with a real Celery worker: how long after a customer's message is stored do its sentiment
and the refreshed conversation note become visible to agents (in the database, where the console reads them)?

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/pipeline_bench.py

Feeds messages from 200 customers at 1 message/s (the baseline) and then at 20 messages/s, for `--seconds` each,
with one worker (2 processes) on the `ai` queue, and prints p50/p95 of both delays. Target: p95 under 2 s at
20 messages/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common import celery_worker, percentile, purge_queues  # noqa: E402 - after the path set-up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "ERROR")

CUSTOMERS = 200
# Every message differs (the number), as real ones do: an identical message leaves the note unchanged, and an
# unchanged note is not written again.
TEXTS = [
    "Hi, the kitchen tap is dripping, policy PN-{n:05d}",
    "My name is Customer {n}, the heater makes a banging noise",
    "Still waiting for the technician (ticket {n}), this is getting frustrating",
    "Thanks, that fixed it! Order {n} can be closed",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Account, User
    from accounts.services import account_create
    from contacts.services import contact_resolve
    from inbox.models import Inbox
    from inbox.services import receive_message
    from memory.models import AiNote, SentimentReading
    from memory.services import fact_definition_create

    call_command("migrate", "--noinput", verbosity=0)
    account = Account.objects.filter(name="Pipeline (benchmark)").first()
    if account is None:
        owner = User.objects.create_user(email=f"pipeline-{time.time_ns()}@example.com", password=None)
        account = account_create(name="Pipeline (benchmark)", owner=owner)
        inbox = Inbox.objects.create(account=account, name="Support")
        fact_definition_create(
            account=account,
            actor=owner,
            inbox=inbox,
            key="policy_number",
            label="Policy number",
            pattern=r"PN-\d{4,8}",
            required_before_handoff=True,
        )
    inbox = Inbox.objects.get(account=account, name="Support")
    # New customers every run: a rerun on old conversations would often leave their notes unchanged (and so
    # unwritten), and the probe would wait for notes that never come.
    run_id = time.strftime("%Y%m%d%H%M%S")
    contacts = [
        contact_resolve(account=account, kind="webchat", raw_address=f"bench-{run_id}-{n}") for n in range(CUSTOMERS)
    ]

    purge_queues()
    with celery_worker("inbound,ai,celery"):
        results = {
            rate: run(rate, args.seconds, account, inbox, contacts, receive_message, SentimentReading, AiNote)
            for rate in (1, 20)
        }

    print(f"one worker, 2 processes, {os.cpu_count()} cores; {CUSTOMERS} customers; {args.seconds} s per rate")
    print(f"{'rate':<22} {'messages':>8} {'sentiment p50/p95 s':>20} {'note p50/p95 s':>16}")
    for rate, (count, sentiment, note) in results.items():
        label = f"{rate} message/s" + (" (baseline)" if rate == 1 else "")
        print(
            f"{label:<22} {count:>8} {percentile(sentiment, 50):>9.2f} / {percentile(sentiment, 95):<8.2f} "
            f"{percentile(note, 50):>6.2f} / {percentile(note, 95):<6.2f}"
        )


def run(rate, seconds, account, inbox, contacts, receive_message, SentimentReading, AiNote):  # type: ignore[no-untyped-def]
    sent: dict[int, tuple[float, int, datetime]] = {}  # message id -> (monotonic sent, conversation, created_at)
    seen_sentiment: dict[int, float] = {}
    seen_note: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:
        from django.db import connection

        while not stop.is_set() or len(seen_note) < len(sent):
            pending = [m for m in sent if m not in seen_sentiment]
            now = time.monotonic()
            for message_id in SentimentReading.objects.filter(message_id__in=pending).values_list(
                "message_id", flat=True
            ):
                seen_sentiment[message_id] = now - sent[message_id][0]
            waiting = [m for m in sent if m not in seen_note]
            if waiting:
                conversations = {sent[m][1] for m in waiting}
                latest: dict[int, datetime] = {}
                for conversation_id, created in AiNote.objects.filter(conversation_id__in=conversations).values_list(
                    "conversation_id", "created_at"
                ):
                    latest[conversation_id] = max(created, latest.get(conversation_id, created))
                for message_id in waiting:
                    _, conversation_id, created_at = sent[message_id]
                    if conversation_id in latest and latest[conversation_id] >= created_at:
                        seen_note[message_id] = now - sent[message_id][0]
            if stop.is_set() and time.monotonic() - stop_time[0] > 30:
                break
            time.sleep(0.02)
        connection.close()

    stop_time = [0.0]
    poller = threading.Thread(target=poll)
    poller.start()
    interval = 1 / rate
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < seconds:
        contact = contacts[n % len(contacts)]
        text = TEXTS[n % len(TEXTS)].format(n=n)
        message = receive_message(account=account, inbox=inbox, contact=contact, channel="webchat", body=text)
        sent[message.pk] = (time.monotonic(), message.conversation_id, message.created_at)
        n += 1
        time.sleep(max(0.0, started + n * interval - time.monotonic()))
    stop_time[0] = time.monotonic()
    stop.set()
    poller.join()
    return n, list(seen_sentiment.values()), list(seen_note.values())


if __name__ == "__main__":
    main()

"""Data growth: the read paths as the data grows, with their query counts, and this machine's raw limits.

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/growth_bench.py

A database of its own (`continuum_growth_bench`, kept between runs: seeding is the slow part) holds one account per
step, each with 10 messages per conversation (`manage.py seed_volume`): 1k, 10k and 100k conversations by default,
that is 10k, 100k and 1M messages (`--steps 1000,10000,100000,1000000` adds the 10M-message account; its seeding
takes a long while). After each step every account seeded so far is read again, so each row of the table is one
account's size against the messages in the whole table: the inbox's first page, a conversation's messages, a
contact's timeline, the recall (the memory panel's read), search and the reports, through the API in-process
(Django's test client, production settings; no HTTP server), p50/p95 over `--samples` requests and the number of
SQL queries of one request. Flat means: the same queries, and times that do not grow with the data.

Raw limits, for context, in the same run: single-row INSERTs (autocommit, one connection) per second into a bare
table, and the Redis round trip (PING) of this machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import database_from_template, percentile, production_settings  # noqa: E402

DB = "continuum_growth_bench"


def raw_limits(database_url: str, redis_url: str, count: int) -> None:
    import psycopg
    import redis

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE raw_insert (id bigserial PRIMARY KEY, body text NOT NULL)")
        started = time.perf_counter()
        for n in range(count):
            conn.execute("INSERT INTO raw_insert (body) VALUES (%s)", (f"message {n}",))
        inserts = count / (time.perf_counter() - started)
    client = redis.Redis.from_url(redis_url)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.ping()
        times.append((time.perf_counter() - started) * 1e6)
    print(f"\nRaw limits on this machine ({os.cpu_count()} cores), one connection each:")
    print(f"  PostgreSQL single-row INSERT, autocommit (one fsync'd commit each): {inserts:,.0f} rows/s")
    print(f"  Redis PING round trip: p50 {statistics.median(times):.0f} us, p95 {percentile(times, 95):.0f} us")


def seed(account_name: str, conversations: int, database_url: str) -> int:
    from accounts.models import Account

    account = Account.objects.filter(name=account_name).first()
    from inbox.models import Conversation

    have = Conversation.objects.filter(account=account).count() if account else 0
    if have < conversations:
        command = [sys.executable, "manage.py", "seed_volume", "--conversations", str(conversations - have)]
        if account is not None:
            command += ["--account", str(account.pk)]
        env = {**os.environ, "CONTINUUM_ENV": "development", "DATABASE_URL": database_url}
        started = time.monotonic()
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        if account is None:  # seed_volume names a new account "Volume (benchmark)": this step's own name
            account = Account.objects.filter(name="Volume (benchmark)").order_by("-id").first()
            assert account is not None
            Account.objects.filter(pk=account.pk).update(name=account_name)
        print(f"(seeded {conversations - have:,} conversations in {time.monotonic() - started:.0f} s)")
        from django.db import connection

        with connection.cursor() as cursor:  # what autovacuum does shortly after a load like this
            cursor.execute("ANALYZE")
        from django.core.management import call_command

        with open(os.devnull, "w") as quiet:
            call_command("reports_rebuild", "--account", str(account.pk), "--days", "30", verbosity=0, stdout=quiet)
    account = Account.objects.get(name=account_name)
    return int(account.pk)


def measure(account_id: int, samples: int) -> dict[str, tuple[float, float, int]]:
    from django.db import connection
    from django.test import Client

    from accounts.models import Membership
    from accounts.services import api_token_create
    from inbox.models import Conversation, Inbox

    membership = Membership.objects.select_related("user", "account").filter(account_id=account_id, role="admin")[0]
    _, token = api_token_create(account=membership.account, user=membership.user, name=f"growth {time.time_ns()}")
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    # one connection for the whole run, so a request's queries can be counted on it (a deployment keeps its
    # connections too: CONN_MAX_AGE)
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    rng = random.Random(7)
    inboxes = list(Inbox.objects.filter(account_id=account_id).values_list("id", flat=True))
    count = Conversation.objects.filter(account_id=account_id).count()
    sample = list(
        Conversation.objects.filter(account_id=account_id).values_list("id", "contact_id", "inbox_id")[
            :: max(1, count // 500)
        ]
    )
    base = f"/api/v1/accounts/{account_id}"

    def pick() -> tuple[int, int, int]:
        return rng.choice(sample)

    cases = {
        "inbox page": lambda: f"{base}/conversations?inbox={rng.choice(inboxes)}",
        "conversation": lambda: f"{base}/conversations/{pick()[0]}/messages",
        "timeline": lambda: f"{base}/contacts/{pick()[1]}/timeline",
        "recall": lambda: (lambda c: f"{base}/contacts/{c[1]}/memory?inbox={c[2]}")(pick()),
        "search": lambda: f"{base}/search?q={rng.choice(['refund', 'invoice', 'delivery', 'password'])}",
        "reports": lambda: f"{base}/reports?group=day",
    }
    results: dict[str, tuple[float, float, int]] = {}
    for name, make_url in cases.items():
        for _ in range(5):
            client.get(make_url())
        executed: list[str] = []

        def counted(execute: Any, sql: str, params: Any, many: bool, context: Any, seen: list[str] = executed) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            answer = client.get(make_url())
        if answer.status_code != 200:
            raise SystemExit(f"{name}: {answer.status_code} {answer.content[:200]!r}")
        timings = []
        for _ in range(samples):
            url = make_url()
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        results[name] = (statistics.median(timings), percentile(timings, 95), len(executed))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="1000,10000,100000", help="conversations per step (10 messages each)")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--raw", type=int, default=3000, help="INSERTs and PINGs for the raw limits")
    args = parser.parse_args()

    database_url = database_from_template(os.environ["DATABASE_URL"], DB, replace=False)  # its data kept
    os.environ["DATABASE_URL"] = database_url
    production_settings()
    import django

    django.setup()
    from django.core.management import call_command

    from inbox.models import Message

    call_command("migrate", "--noinput", verbosity=0)
    raw_limits(database_url, os.environ["REDIS_URL"], args.raw)

    steps = [int(s) for s in args.steps.split(",")]
    seeded: list[tuple[int, int]] = []
    rows: list[tuple[int, int, dict[str, tuple[float, float, int]]]] = []
    for size in steps:
        seeded.append((size, seed(f"Growth {size} (benchmark)", size, database_url)))
        total = Message.objects.count()
        for account_size, account_id in seeded:
            rows.append((total, account_size * 10, measure(account_id, args.samples)))

    names = list(rows[0][2])
    print(
        f"\nReads as the data grows: p95 ms (queries per request); API in-process, production settings, "
        f"{args.samples} requests each; {os.cpu_count()} cores"
    )
    print(f"{'messages in the table':>22} {'in the account':>15} " + " ".join(f"{n:>14}" for n in names))
    for total, account_messages, result in rows:
        cells = " ".join(f"{result[n][1]:>8.1f} ({result[n][2]:>2})" for n in names)
        print(f"{total:>22,} {account_messages:>15,} {cells}")
    worst: dict[str, Any] = {n: max(r[2][n][1] for r in rows) for n in names}
    print("worst p95 ms: " + ", ".join(f"{n} {worst[n]:.1f}" for n in names))
    counts = {n: sorted({r[2][n][2] for r in rows}) for n in names}
    print("query counts seen: " + ", ".join(f"{n} {counts[n]}" for n in names))


if __name__ == "__main__":
    main()

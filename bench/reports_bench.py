"""Reports at volume: the account of `inbox_bench.py` (100k conversations, 1M messages over a year), its daily
rollup rebuilt, then the reports API served by gunicorn (2 sync workers) one request at a time.

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/reports_bench.py

Prints the rollup's rebuild time (a whole year, and one day as beat does it), then p50/p95 of the report for 30
and 365 days by day, by inbox, by agent, and its CSV, against the same run's baseline (an unauthenticated API
request) and against the scan the rollup replaces (counting a year's conversations and messages per day).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, timedelta

from common import gunicorn, percentile, production_settings, volume_account

production_settings()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    import requests
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Membership
    from accounts.services import api_token_create
    from inbox.models import Conversation, Message
    from reports.models import ReportDay
    from reports.rollup import account_first_day, rebuild_day, rebuild_range

    account = volume_account(args.conversations)
    assert account is not None
    n_conv = Conversation.objects.filter(account=account).count()
    n_msg = Message.objects.filter(account=account).count()
    today = timezone.now().astimezone(UTC).date()
    first = account_first_day(account) or today

    started = time.perf_counter()
    rows = rebuild_range(account, first, today)
    year_seconds = time.perf_counter() - started
    day_times = []
    for _ in range(5):
        started = time.perf_counter()
        rebuild_day(account, today - timedelta(days=3))
        day_times.append((time.perf_counter() - started) * 1000)

    # the scan a page view would run without the rollup: a year of conversations and messages counted per day
    scan_sql = (
        "SELECT date_trunc('day', created_at) d, count(*) FROM inbox_message WHERE account_id = %s "
        "AND created_at >= now() - interval '365 days' GROUP BY 1"
    )
    scan_times = []
    with connection.cursor() as cursor:
        for _ in range(5):
            started = time.perf_counter()
            cursor.execute(scan_sql, [account.pk])
            cursor.fetchall()
            scan_times.append((time.perf_counter() - started) * 1000)

    membership = Membership.objects.select_related("user").filter(account=account, role="admin").first()
    assert membership is not None
    _, token = api_token_create(account=account, user=membership.user, name=f"bench {time.time_ns()}")
    last30 = f"from={today - timedelta(days=29)}&to={today}"
    year = f"from={today - timedelta(days=364)}&to={today}"
    with gunicorn() as server_url:
        base = f"{server_url}/api/v1/accounts/{account.pk}/reports"
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        cases = {
            "baseline: GET /api/v1/me without credentials (401)": (requests.Session(), f"{server_url}/api/v1/me", 401),
            "30 days by day": (session, f"{base}?{last30}&group=day", 200),
            "365 days by day": (session, f"{base}?{year}&group=day", 200),
            "365 days by inbox": (session, f"{base}?{year}&group=inbox", 200),
            "365 days by agent": (session, f"{base}?{year}&group=agent", 200),
            "365 days by day, CSV": (session, f"{base}?{year}&group=day&export=csv", 200),
        }
        results: dict[str, list[float]] = {}
        for name, (client, url, expected) in cases.items():
            for _ in range(20):
                client.get(url, timeout=10)
            timings = []
            for _ in range(args.samples):
                begun = time.perf_counter()
                response = client.get(url, timeout=10)
                timings.append((time.perf_counter() - begun) * 1000)
                if response.status_code != expected:
                    raise SystemExit(f"{url}: {response.status_code} {response.text[:200]}")
            results[name] = timings

    print(
        f"account {account.pk}: {n_conv} conversations, {n_msg} messages from {first} to {today}; "
        f"{ReportDay.objects.filter(account=account).count()} rollup rows; {os.cpu_count()} cores"
    )
    print(f"rollup rebuild, whole history: {year_seconds:.1f} s ({rows} rows); one day (beat): "
          f"p50 {statistics.median(day_times):.0f} ms")  # fmt: skip
    print(
        f"the scan the rollup replaces (a year of messages counted per day): p50 {statistics.median(scan_times):.0f} ms"
    )
    baseline_p95 = percentile(next(iter(results.values())), 95)
    print(f"{'request (gunicorn, 2 sync workers)':<52} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'p95 vs base':>11}")
    for name, timings in results.items():
        p95 = percentile(timings, 95)
        print(
            f"{name:<52} {statistics.median(timings):>7.1f} {p95:>7.1f} {max(timings):>7.1f} "
            f"{p95 / baseline_p95:>10.1f}x"
        )


if __name__ == "__main__":
    main()

"""Inbox read paths at volume: an account with 100k conversations and 1M messages, served by gunicorn
(2 sync workers, the production HTTP layout), measured through the API one request at a time.

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/inbox_bench.py

Seeds the volume account on first run (`manage.py seed_volume`, a few minutes). Prints p50/p95 for the first page
of an inbox, opening a conversation (its last 50 messages), and a contact's timeline, each against the baseline
of the same run (an unauthenticated API request), then the PostgreSQL plans of those queries.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from common import gunicorn, percentile, production_settings, volume_account

production_settings()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    import requests

    from accounts.models import Membership
    from accounts.services import api_token_create
    from contacts.models import Contact
    from inbox import selectors
    from inbox.models import Conversation, Inbox, Message

    account = volume_account(args.conversations)
    assert account is not None
    membership = Membership.objects.select_related("user", "account").filter(account=account, role="admin").first()
    assert membership is not None
    _, token = api_token_create(account=account, user=membership.user, name=f"bench {time.time_ns()}")
    n_conv = Conversation.objects.filter(account=account).count()
    n_msg = Message.objects.filter(account=account).count()

    rng = random.Random(42)
    inbox_ids = list(Inbox.objects.filter(account=account).values_list("id", flat=True))
    conv_ids = list(
        Conversation.objects.filter(account=account).values_list("id", flat=True)[:: max(1, n_conv // 2000)]
    )
    # contacts that have conversations (a timeline worth reading)
    contact_ids = list(
        Conversation.objects.filter(account=account).values_list("contact_id", flat=True)[:: max(1, n_conv // 2000)]
    )

    with gunicorn() as server_url:
        base = f"{server_url}/api/v1/accounts/{account.pk}"
        session = requests.Session()
        anonymous = requests.Session()
        session.headers["Authorization"] = f"Token {token}"

        cases = {
            "baseline: GET /api/v1/me without credentials (401)": (
                anonymous,
                lambda: f"{server_url}/api/v1/me",
                401,
            ),
            "inbox first page: GET /conversations?inbox=<id>": (
                session,
                lambda: f"{base}/conversations?inbox={rng.choice(inbox_ids)}",
                200,
            ),
            "open conversation: GET /conversations/<id>/messages (last 50)": (
                session,
                lambda: f"{base}/conversations/{rng.choice(conv_ids)}/messages",
                200,
            ),
            "contact timeline: GET /contacts/<id>/timeline": (
                session,
                lambda: f"{base}/contacts/{rng.choice(contact_ids)}/timeline",
                200,
            ),
        }
        results: dict[str, list[float]] = {}
        for name, (client, make_url, expected) in cases.items():
            for _ in range(30):  # warm up both workers
                client.get(make_url(), timeout=10)
            timings = []
            for _ in range(args.samples):
                url = make_url()
                started = time.perf_counter()
                response = client.get(url, timeout=10)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != expected:
                    raise SystemExit(f"{url}: {response.status_code} {response.text[:200]}")
            results[name] = timings

    baseline_p95 = percentile(next(iter(results.values())), 95)
    print(
        f"account {account.pk}: {n_conv} conversations, {n_msg} messages; gunicorn 2 sync workers; "
        f"{args.samples} sequential requests each; {os.cpu_count()} cores"
    )
    print(f"{'request':<66} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'p95 vs base':>11}")
    for name, timings in results.items():
        p95 = percentile(timings, 95)
        print(
            f"{name:<66} {statistics.median(timings):>7.1f} {p95:>7.1f} {max(timings):>7.1f} "
            f"{p95 / baseline_p95:>10.1f}x"
        )

    print("\nQuery plans (EXPLAIN ANALYZE) of each page's main query:")
    from accounts.selectors import membership_for_user

    member = membership_for_user(account_id=account.pk, user=membership.user)
    assert member is not None
    contact = Contact.objects.get(pk=contact_ids[len(contact_ids) // 2])
    conversation = Conversation.objects.get(pk=conv_ids[len(conv_ids) // 2])
    plans = {
        "inbox first page": selectors.conversation_list(account=account, membership=member, inbox_id=inbox_ids[0])[:26],
        "conversation messages": selectors.message_list(account=account, conversation=conversation)[:51],
        "contact timeline": selectors.contact_timeline(account=account, membership=member, contact=contact)[:51],
    }
    seq_scans = []
    for name, queryset in plans.items():
        plan = queryset.explain(analyze=True)
        print(f"\n-- {name}\n{plan}")
        if "Seq Scan on inbox_message" in plan or "Seq Scan on inbox_conversation" in plan:
            seq_scans.append(name)
    print(f"\nsequential scans on messages or conversations: {', '.join(seq_scans) if seq_scans else 'none'}")


if __name__ == "__main__":
    main()

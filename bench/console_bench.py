"""The agent console at volume, and how fast a customer's message shows up in an open browser.

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/console_bench.py

1. Server time of the console's pages for an account with 100k conversations (the volume account that
   bench/inbox_bench.py seeds), served by gunicorn (2 sync workers, the production HTTP layout), signed in as an
   admin (who sees every inbox: the widest lists). Baseline in the same run: the sign-in page (a template render
   with no query). Target: p95 under 100 ms for the inbox and a conversation page.
2. Webhook to visible: uvicorn (the ASGI process that serves websockets), one Celery worker (2 processes, as in
   the Procfile) and headless Chromium with the inbox open. Each sample posts a signed Twilio SMS webhook and
   waits until its text is on the page (stored, queued, processed by the worker, pushed over the websocket, the
   list re-rendered and swapped in). Baseline in the same run: the webhook's own HTTP round trip. Target: p95
   under 500 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import uuid

from common import (
    ROOT,
    celery_worker,
    free_port,
    gunicorn,
    percentile,
    production_settings,
    purge_queues,
    sign_in,
)

production_settings()
# Served over plain http on 127.0.0.1 here: cookies cannot be https-only (requests would not send them back).
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")

SID, TOKEN = "AC" + "c" * 32, "console-bench-auth-token"
PASSWORD = "bench-password-0123"  # noqa: S105 - a throwaway bench login

WATCH = """probe => {
  window.__probeSeen = null;
  const seen = () => document.body.textContent.includes(probe);
  const observer = new MutationObserver(() => {
    if (seen()) { window.__probeSeen = Date.now(); observer.disconnect(); }
  });
  observer.observe(document.body, { childList: true, subtree: true, characterData: true });
}"""


def measure(session, make_url, samples: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(20):
        session.get(make_url(), timeout=10)
    timings = []
    for _ in range(samples):
        url = make_url()
        started = time.perf_counter()
        response = session.get(url, timeout=10)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")
    return timings


def report(title: str, results: dict[str, list[float]]) -> None:
    baseline = percentile(next(iter(results.values())), 95)
    print(f"\n{title}")
    print(f"{'case':<62} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'p95 vs base':>11}")
    for name, timings in results.items():
        p95 = percentile(timings, 95)
        print(
            f"{name:<62} {statistics.median(timings):>7.1f} {p95:>7.1f} {max(timings):>7.1f} {p95 / baseline:>10.1f}x"
        )


def page_times(samples: int) -> None:
    import requests

    from accounts.models import Account, Membership, User
    from inbox.models import Conversation, Inbox, InboxMember

    account = Account.objects.filter(name="Volume (benchmark)").first()
    if account is None:
        raise SystemExit("Run bench/inbox_bench.py first: it seeds the 100k-conversation account.")
    membership = Membership.objects.select_related("user").filter(account=account, role="admin").first()
    assert membership is not None
    membership.user.set_password(PASSWORD)
    membership.user.save(update_fields=["password"])
    agent, _ = User.objects.get_or_create(email="volume-agent@example.com", defaults={"name": "Volume Agent"})
    agent.set_password(PASSWORD)
    agent.save(update_fields=["password"])
    Membership.objects.get_or_create(account=account, user=agent, defaults={"role": "agent"})
    agent_inbox = Inbox.objects.filter(account=account).order_by("id").first()
    assert agent_inbox is not None
    InboxMember.objects.get_or_create(account=account, inbox=agent_inbox, user=agent)
    n_conv = Conversation.objects.filter(account=account).count()
    rng = random.Random(7)
    inbox_ids = list(Inbox.objects.filter(account=account).values_list("id", flat=True))
    conv_ids = list(
        Conversation.objects.filter(account=account).values_list("id", flat=True)[:: max(1, n_conv // 2000)]
    )
    with gunicorn() as base:
        session = requests.Session()
        sign_in(session, base, membership.user.email, PASSWORD)
        agent_session = requests.Session()
        sign_in(agent_session, base, agent.email, PASSWORD)
        a = f"{base}/a/{account.pk}"
        cases = {
            "baseline: GET /auth/login/ signed out (no queries)": lambda: f"{base}/auth/login/",
            "inbox page, all inboxes, folder All": lambda: f"{a}/",
            "inbox page, one inbox, folder All": lambda: f"{a}/?inbox={rng.choice(inbox_ids)}",
            "inbox page, folder Unassigned": lambda: f"{a}/?folder=unassigned",
            "inbox page, folder Escalated": lambda: f"{a}/?folder=escalated",
            "agent (one inbox of three): inbox page, folder All": lambda: f"{a}/",
            "conversation page (list + thread + memory panel)": lambda: f"{a}/conversations/{rng.choice(conv_ids)}/",
            "live refresh: conversation list partial": lambda: f"{a}/list?folder=all",
            "live refresh: memory panel partial": lambda: f"{a}/conversations/{rng.choice(conv_ids)}/memory",
        }
        anonymous = requests.Session()  # signed in, the sign-in page redirects to the inbox
        results = {
            name: measure(
                anonymous if name.startswith("baseline") else agent_session if name.startswith("agent") else session,
                make_url,
                samples,
            )
            for name, make_url in cases.items()
        }
    report(
        f"Page server time: account {account.pk}, {n_conv} conversations; gunicorn 2 sync workers; "
        f"{samples} sequential requests each; {os.cpu_count()} cores",
        results,
    )


def webhook_to_browser(samples: int) -> None:
    import requests
    from django.conf import settings
    from playwright.sync_api import sync_playwright
    from twilio.request_validator import RequestValidator

    from accounts.models import Account, Membership, User
    from accounts.services import account_create
    from channels_app.adapters.twilio import webhook_url
    from channels_app.credentials import credentials_encrypt
    from channels_app.models import ChannelEndpoint
    from config.chromium import CHROMIUM, CHROMIUM_ARGS
    from inbox.models import Inbox
    from inbox.services import inbox_create

    account = Account.objects.filter(name="Console latency (benchmark)").first()
    if account is None:
        user, _ = User.objects.get_or_create(email="console-bench@example.com", defaults={"name": "Bench Admin"})
        account = account_create(name="Console latency (benchmark)", owner=user)
        inbox_create(account=account, actor=user, name="Support")
    if not ChannelEndpoint.objects.filter(account=account).exists():  # an earlier run may have stopped before it
        ChannelEndpoint.objects.create(
            inbox=Inbox.objects.get(account=account, name="Support"),
            account=account,
            kind="sms",
            address="+13125550101",
            credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
        )
    membership = Membership.objects.select_related("user").get(account=account, role="admin")
    membership.user.set_password(PASSWORD)
    membership.user.save(update_fields=["password"])
    endpoint = ChannelEndpoint.objects.get(account=account)

    purge_queues()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PUBLIC_BASE_URL": base, "ALLOWED_HOSTS": "127.0.0.1"}
    settings.PUBLIC_BASE_URL = base
    web = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        with celery_worker(env=env):
            url = webhook_url(endpoint, "messaging")
            validator = RequestValidator(TOKEN)
            http = requests.Session()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{base}/auth/login/")
                page.get_by_label("Email").fill(membership.user.email)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(lambda u: "/auth/login/" not in u)
                page.locator("html[data-live='on']").wait_for(state="attached")
                posts: list[float] = []
                visible: list[float] = []
                for n in range(samples + 5):
                    body = f"Latency probe {uuid.uuid4().hex[:10]}"
                    sid = "SM" + uuid.uuid4().hex
                    payload = {
                        "MessageSid": sid,
                        "SmsSid": sid,
                        "AccountSid": SID,
                        "From": f"+1312555{n % 10000:04d}",
                        "To": "+13125550101",
                        "Body": body,
                        "NumMedia": "0",
                    }
                    signature = validator.compute_signature(url, payload)
                    # The page notes the moment the text enters the DOM (Playwright's own wait polls every 500 ms
                    # after the first few tries, too coarse for this figure). Same machine, same wall clock.
                    page.evaluate(WATCH, body)
                    started = time.time()
                    response = http.post(url, data=payload, headers={"X-Twilio-Signature": signature}, timeout=10)
                    posted = time.time()
                    assert response.status_code == 200, response.status_code
                    page.get_by_text(body).wait_for(timeout=15_000)
                    shown = page.evaluate("() => window.__probeSeen") / 1000
                    if n >= 5:  # the first few warm the worker and the page
                        posts.append((posted - started) * 1000)
                        visible.append((shown - started) * 1000)
                    time.sleep(0.3)
                browser.close()
            report(
                f"Webhook to visible in the browser: {samples} signed SMS webhooks, one at a time; uvicorn + one "
                f"worker (2 processes) + headless Chromium on {os.cpu_count()} cores",
                {
                    "baseline: the webhook's HTTP round trip": posts,
                    "webhook -> new row visible in the open inbox": visible,
                },
            )
    finally:
        web.terminate()
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            web.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency-samples", type=int, default=60)
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # production settings serve hashed static files
    if not args.skip_pages:
        page_times(args.samples)
    if not args.skip_latency:
        webhook_to_browser(args.latency_samples)


if __name__ == "__main__":
    main()

"""Realtime at a steady rate, and a marketing-blast burst, on the production layout (config/prodlocal.py: nginx,
gunicorn, uvicorn, a Celery pool per queue, beat, as docker-compose.yml runs them).

    CONTINUUM_VAR_DIR=var/bench .venv/bin/python -m config.stack exec -- .venv/bin/python bench/realtime_bench.py

1. Floor, no app code: a probe task queued from here, run by a worker of its own, which only sends a channel-layer
   message to an inbox's group; measured until the agent's socket (through nginx and uvicorn) receives it.
2. Realtime: signed Twilio SMS webhooks posted through nginx at 20 and 100 messages/s (open loop, `--seconds`
   each, from `--customers` customers), with an agent's console open in headless Chromium: posted -> the
   message's text in the agent's DOM, and posted -> the event on a second agent socket (Python). Targets: DOM p95
   < 100 ms at 20/s and < 250 ms at 100/s. Then posted -> the message's mood read by the AI pool (which runs below
   the message path for the CPU), waiting at most `--ai-wait` seconds before the next rate.
3. Burst: `--burst` messages from half as many customers posted as fast as 16 connections go, with the inbound and
   ai pools at 1, 2 and 4 processes each: until every message is stored, until each has its sentiment, until each
   conversation's note is newer than its last message; the webhook's p99 during the burst.
Every figure is printed; nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import database_from_template, percentile, sign_in  # noqa: E402

from config.prodlocal import Layout  # noqa: E402

SID, TOKEN = "AC" + "e" * 32, "realtime-bench-auth-token"
PASSWORD = "bench-password-0123"  # noqa: S105 - a throwaway bench login
NUMBER = "+13125550188"
PROBE = re.compile(r"rt-([0-9a-f]{12})")
OBSERVE = """() => {
  window.__seen = {};
  new MutationObserver((mutations) => {
    const now = Date.now();
    for (const m of mutations) {
      const nodes = m.type === "characterData" ? [m.target] : m.addedNodes;
      for (const n of nodes) {
        for (const x of (n.textContent || "").matchAll(/rt-([0-9a-f]{12})/g)) {
          if (!(x[1] in window.__seen)) window.__seen[x[1]] = now;
        }
      }
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
}"""


def setup_django(layout: Layout) -> None:
    """This process as the owner (fixtures), with the layout's keys and public address."""
    for key in ("SECRET_KEY", "ENCRYPTION_KEYS", "PUBLIC_BASE_URL", "ALLOWED_HOSTS"):
        os.environ[key] = layout.app_env[key]
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["CONTINUUM_ENV"] = "production"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()


def fixtures() -> dict[str, Any]:
    from accounts.models import Account, Membership, User
    from accounts.services import account_create
    from channels_app.adapters.twilio import webhook_url
    from channels_app.credentials import credentials_encrypt
    from channels_app.models import ChannelEndpoint
    from inbox.models import Inbox
    from inbox.services import inbox_create

    account = Account.objects.filter(name="Realtime (benchmark)").first()
    if account is None:
        user, _ = User.objects.get_or_create(email="realtime-bench@example.com", defaults={"name": "Bench Admin"})
        account = account_create(name="Realtime (benchmark)", owner=user)
        inbox_create(account=account, actor=user, name="Support")
    inbox = Inbox.objects.get(account=account, name="Support")
    endpoint = ChannelEndpoint.objects.filter(account=account).first() or ChannelEndpoint.objects.create(
        inbox=inbox, account=account, kind="sms", address=NUMBER,
        credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
    )  # fmt: skip
    admin = Membership.objects.select_related("user").get(account=account, role="admin").user
    admin.set_password(PASSWORD)
    admin.save(update_fields=["password"])
    return {"account": account.pk, "inbox": inbox.pk, "email": admin.email, "url": webhook_url(endpoint, "messaging")}


class Poster:
    """Signed webhooks through nginx, open loop: message k is posted at start + k / rate whatever the answers."""

    def __init__(self, url: str, base: str) -> None:
        from twilio.request_validator import RequestValidator

        self.url, self.path = url, url.split("/webhooks/", 1)[1]
        self.target = f"{base}/webhooks/{self.path}"
        self.validator = RequestValidator(TOKEN)
        self.local = threading.local()

    def post(self, customer: str, body: str) -> tuple[float, float, int]:
        import requests

        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        sid = "SM" + uuid.uuid4().hex
        fields = {"MessageSid": sid, "SmsSid": sid, "AccountSid": SID, "From": customer, "To": NUMBER,
                  "Body": body, "NumMedia": "0", "NumSegments": "1"}  # fmt: skip
        signature = self.validator.compute_signature(self.url, fields)
        started = time.time()
        answer = session.post(self.target, data=fields, headers={"X-Twilio-Signature": signature}, timeout=30)
        return started, time.time(), answer.status_code

    def run(self, rate: float, count: int, customers: list[str], tag: str) -> dict[str, tuple[float, float, int]]:
        """Post `count` messages at `rate` per second; each body carries a probe id; returns id -> timings."""
        results: dict[str, tuple[float, float, int]] = {}
        futures = {}
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            for k in range(count):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                probe = uuid.uuid4().hex[:12]
                body = f"{tag} message {k}: is my order on its way? rt-{probe}"
                futures[pool.submit(self.post, customers[k % len(customers)], body)] = probe
            for future, probe in futures.items():
                results[probe] = future.result()
        return results


class Socket:
    """A console socket through nginx in a thread; `arrivals` maps probe ids (or probe numbers) to arrival time."""

    def __init__(self, url: str, base: str, cookie: str) -> None:
        from websockets.sync.client import connect
        from websockets.typing import Origin

        self.connection = connect(url, origin=Origin(base), additional_headers={"Cookie": cookie}, open_timeout=10)
        self.arrivals: dict[str, float] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.connection:
                now = time.time()
                event = json.loads(raw)
                if event.get("type") == "probe":
                    self.arrivals.setdefault(f"floor-{event['n']}", now)
                elif event.get("type") == "message.created":
                    found = PROBE.search((event.get("message") or {}).get("body") or "")
                    if found:
                        self.arrivals.setdefault(found.group(1), now)
        except Exception:  # noqa: S110 - closed at the end of the run
            pass

    def close(self) -> None:
        self.connection.close()


def row(name: str, values: list[float], total: int | None = None, floor: float | None = None) -> str:
    if not values:
        return f"{name:<58} {'-':>7} {'-':>7} {'-':>7}   (nothing arrived)"
    p50, p95 = statistics.median(values), percentile(values, 95)
    missing = f"  {total - len(values)} missing" if total is not None and total > len(values) else ""
    ratio = f" {p95 / floor:>7.1f}x" if floor else " " * 8
    return f"{name:<58} {p50:>7.1f} {p95:>7.1f} {max(values):>7.1f}{ratio}{missing}"


def probe_worker(layout: Layout) -> subprocess.Popen[bytes]:
    """The floor's own Celery worker (queue `probe`, the probe task only), started beside the layout's processes
    rather than after them: its start-up is not waited for twice."""
    return subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "probe", "-I", "realtime_probe",
         "--concurrency", "2", "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
         "--hostname", f"probe-{os.getpid()}@%h"],
        cwd=ROOT, env={**layout.app_env, "PYTHONPATH": str(ROOT / "bench")},
        stdout=open(layout.folder / "logs" / "probe.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def floor_run(worker: subprocess.Popen[bytes], socket: Socket, inbox_id: int, samples: int) -> list[float]:
    """enqueue -> a worker of its own -> group_send -> the agent's socket: no app code on the way. The worker is
    told to stop after (its caller waits for it at the end)."""
    from config.celery_app import app

    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[f"probe-{os.getpid()}@{os.uname().nodename}"], timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the probe worker did not start")
        times = []
        for n in range(samples + 5):
            started = time.time()
            app.send_task("bench.realtime_probe", args=[f"inbox.{inbox_id}", inbox_id, n], queue="probe")
            deadline = time.monotonic() + 10
            while f"floor-{n}" not in socket.arrivals and time.monotonic() < deadline:
                time.sleep(0.0005)
            if n >= 5 and f"floor-{n}" in socket.arrivals:
                times.append((socket.arrivals[f"floor-{n}"] - started) * 1000)
            time.sleep(0.05)
        return times
    finally:
        worker.terminate()


def processes() -> dict[int, tuple[int, float, str]]:
    """Every process now: pid -> (parent pid, CPU seconds used so far, command line), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[int, float, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, command)
    return found


def tree(root: int, table: dict[int, tuple[int, float, str]], leave_out: set[int] | None = None) -> set[int]:
    """`root` and every process under it, except the trees under `leave_out`."""
    found, frontier, leave_out = {root}, [root], leave_out or set()
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, *_) in table.items() if ppid == parent and pid not in found | leave_out]
        found.update(children)
        frontier.extend(children)
    return found


class ClientsYield:
    """Keeps this process and every process it started apart from the server's (the browser, its driver) at `nice
    10`, thread by thread and session by session, twice a second. The clients stand for machines of their own and
    yield the two cores to the server. Chromium raises its own threads' priority as it runs (its renderer to 0, its
    display-critical threads to -8 when it may), and under autogroup scheduling the CPU is shared between sessions
    before nice counts, so the browser's sessions get the nice too (config/prodlocal.py `_session_nice`); this
    process's own session is its caller's (a terminal, make) and is left alone."""

    NICE = 10

    def __init__(self, server: set[int]) -> None:
        self.server = server  # the layout's processes: their trees are not clients
        self.stopped = threading.Event()
        self.raised = 0  # threads found above NICE and put back
        self.sessions: set[int] = set()  # client sessions given NICE
        threading.Thread(target=self._run, daemon=True).start()

    def _descendants(self) -> set[int]:
        return tree(os.getpid(), processes(), leave_out=self.server)

    def _run(self) -> None:
        while not self.stopped.wait(0.5):
            own = os.getsid(0)
            for pid in self._descendants():
                with contextlib.suppress(OSError, ValueError):
                    if os.getsid(pid) != own:
                        self._session_yields(pid)
                with contextlib.suppress(OSError):
                    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
                        with contextlib.suppress(OSError):
                            if os.getpriority(os.PRIO_PROCESS, tid) < self.NICE:
                                os.setpriority(os.PRIO_PROCESS, tid, self.NICE)
                                self.raised += 1

    def _session_yields(self, pid: int) -> None:
        group = Path(f"/proc/{pid}/autogroup")  # "/autogroup-N nice X"; absent without autogroup scheduling
        if int(group.read_text().split()[-1]) < self.NICE:
            group.write_text(str(self.NICE))
            self.sessions.add(os.getsid(pid))

    def stop(self) -> None:
        self.stopped.set()


class CpuLedger:
    """CPU seconds (user + system, from /proc) used so far by each part of the machine: each of the layout's
    services with its children, PostgreSQL's server and backends, Redis, the browser (Chromium's processes) and
    this process (the clients posting and reading). Two readings around a rate give each part's CPU per message;
    what the parts add up to, against the cores, says whether the rate fits on this machine at all."""

    def __init__(self, layout: Layout) -> None:
        self.services = {proc.name: proc.popen.pid for proc in layout.processes if proc.popen is not None}

    def read(self) -> dict[int, tuple[str, float]]:
        """pid -> (part, CPU seconds so far) for every process that belongs to a part."""
        table = processes()
        part_of = {pid: name for name, root in self.services.items() for pid in tree(root, table)}
        found: dict[int, tuple[str, float]] = {}
        for pid, (_parent, cpu, command) in table.items():
            if pid in part_of:
                found[pid] = (part_of[pid], cpu)
            elif command.startswith("postgres") or "/bin/postgres" in command:
                found[pid] = ("postgresql", cpu)
            elif "redis-server" in command:
                found[pid] = ("redis", cpu)
            elif "chrom" in command.split(" ", 1)[0]:
                found[pid] = ("browser (Chromium)", cpu)
            elif pid == os.getpid():
                found[pid] = ("clients (this process)", cpu)
        return found

    @staticmethod
    def per_message(
        before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], messages: int
    ) -> dict[str, float]:
        """Each part's CPU ms per message between two readings: a process started meanwhile counts whole; one that
        ended meanwhile is not counted (its last stretch is lost, never subtracted)."""
        used: dict[str, float] = {}
        for pid, (part, cpu) in after.items():
            earlier = before[pid][1] if pid in before and before[pid][1] <= cpu else 0.0  # else a reused pid
            used[part] = used.get(part, 0.0) + cpu - earlier
        return {part: seconds * 1000 / messages for part, seconds in used.items()}


def drain(seconds: float) -> None:
    """Wait until the inbound queue is empty, at most `seconds`, then a moment more for the task in hand."""
    from config.celery_app import app

    deadline = time.monotonic() + seconds
    with app.connection_for_read() as conn:
        while time.monotonic() < deadline:
            if not conn.default_channel.client.llen("inbound"):
                break
            time.sleep(0.1)
    time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


class AnalysisWatch:
    """When each message's mood reading is written by the AI pool (which runs below the message path for the CPU),
    as seen by polling the new readings every 0.1 s from a thread of its own (Playwright's loop runs in the main one,
    where Django refuses queries): a reading's own `created_at` is its message's time, not when it was written."""

    def __init__(self, account: int) -> None:
        self.account = account
        self.seen: dict[str, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from django.db import connection

        from memory.models import SentimentReading

        newer = SentimentReading.objects.filter(account_id=self.account).order_by("-id").values_list("id")[:1]
        last = next(iter(newer), (0,))[0]
        while not self.stopped.wait(0.1):
            # ids are taken before commit: a reading with a lower id than one seen may commit after it, so the last
            # 100 ids are read again
            for pk, body in SentimentReading.objects.filter(account_id=self.account, id__gt=last - 100).values_list(
                "id", "message__body"
            ):
                last = max(last, pk)
                found = PROBE.search(body)
                if found:
                    self.seen.setdefault(found[1], time.time())
        connection.close()  # this thread's

    def lags(self, posted: dict[str, tuple[float, float, int]], wait: float) -> list[float]:
        """Webhook -> reading seen, ms, for the posted messages read within `wait` seconds from now."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not all(probe in self.seen for probe in posted):
            time.sleep(0.2)
        self.stopped.set()
        self.thread.join()
        return [(self.seen[probe] - posted[probe][0]) * 1000 for probe in posted if probe in self.seen]


def realtime(
    layout: Layout,
    probe: subprocess.Popen[bytes],
    facts: dict[str, Any],
    seconds: int,
    customers: int,
    floor_samples: int,
    ai_wait: float,
) -> None:
    from playwright.sync_api import sync_playwright

    from config.chromium import CHROMIUM, CHROMIUM_ARGS

    base = layout.base_url
    poster = Poster(facts["url"], base)
    import requests

    session = sign_in(requests.Session(), base, facts["email"], PASSWORD)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    socket = Socket(f"{base.replace('http', 'ws')}/ws/v1/accounts/{facts['account']}/", base, cookie)
    floor = floor_run(probe, socket, facts["inbox"], floor_samples)
    # The clients (this process's posting threads and socket reader, and the browser started below) would run on
    # other machines: here they share the two cores with the server, so they yield to it (nice 10, as the AI pool),
    # and stay there (ClientsYield: Chromium raises its threads' priority).
    os.nice(10)
    clients = ClientsYield({proc.popen.pid for proc in layout.processes if proc.popen is not None})
    pool = [f"+1312556{n:04d}" for n in range(customers)]
    poster.run(40, len(pool), pool, "warm-up")  # every customer's conversation exists; the processes are warm
    drain(seconds=8)  # the warm-up's inbound queue empties (and the AI's has a head start)
    results: dict[int, tuple[dict[str, tuple[float, float, int]], dict[str, float], dict[str, float], list[float]]] = {}
    cpu: dict[int, dict[str, float]] = {}  # rate -> part -> CPU ms per message, from posting until all were seen
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/auth/login/")
        page.get_by_label("Email").fill(facts["email"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda u: "/auth/login/" not in u)
        page.locator("html[data-live='on']").wait_for(state="attached")
        page.wait_for_timeout(500)
        page.evaluate(OBSERVE)
        fetches: list[str] = []
        page.on("request", lambda r: fetches.append(r.url))
        # the page's main thread: how long it was busy (scripts, style, layout, parsing, paint) while a rate ran
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def busy() -> float:
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            return float(metrics["TaskDuration"])

        ledger = CpuLedger(layout)
        for rate in (20, 100):
            busy_before, started, cpu_before = busy(), time.monotonic(), ledger.read()
            socket.arrivals.clear()
            fetches.clear()
            watch = AnalysisWatch(facts["account"]) if ai_wait else None
            posted = poster.run(rate, rate * seconds, pool, f"{rate}/s")
            deadline = time.monotonic() + max(15, len(posted) / 20)  # what a backlog needs to drain
            while time.monotonic() < deadline:
                seen = page.evaluate("() => window.__seen")
                if all(p in seen for p in posted):
                    break
                time.sleep(0.25)
            seen = page.evaluate("() => window.__seen")
            list_fetches = sum("/list" in url for url in fetches)
            share = (busy() - busy_before) / (time.monotonic() - started)
            cpu[rate] = CpuLedger.per_message(cpu_before, ledger.read(), len(posted))
            # the analysis of this rate's messages, before the next rate starts (0: not waited for)
            lag = watch.lags(posted, ai_wait) if watch is not None else []
            results[rate] = (posted, dict(socket.arrivals), {k: v / 1000 for k, v in seen.items()}, lag)
            print(
                f"({rate}/s: {len(posted)} posted, {list_fetches} list fetches by the page while it ran; "
                f"its main thread busy {share:.0%} of the time)"
            )
        browser.close()
    socket.close()
    clients.stop()
    print(
        f"(client threads put back to nice {ClientsYield.NICE} after raising their priority: {clients.raised}; "
        f"client sessions given nice {ClientsYield.NICE}: {len(clients.sessions)})"
    )

    floor_p95 = percentile(floor, 95)
    print(
        f"\nRealtime on the production layout (nginx, gunicorn 2 workers, uvicorn, a Celery pool per queue with 2 "
        f"processes, beat; {os.cpu_count()} cores); {customers} customers; {seconds} s per rate"
    )
    print(f"{'ms':<58} {'p50':>7} {'p95':>7} {'max':>7} {'p95/floor':>8}")
    print(row(f"floor: enqueue -> worker -> group_send -> socket ({len(floor)})", floor))
    for rate, (posted, arrivals, seen, lag) in results.items():
        http = [(done - start) * 1000 for start, done, _ in posted.values()]
        errors = sum(1 for *_, code in posted.values() if code != 200)
        to_socket = [(arrivals[p] - posted[p][0]) * 1000 for p in posted if p in arrivals]
        to_dom = [(seen[p] - posted[p][0]) * 1000 for p in posted if p in seen]
        print(row(f"{rate}/s: webhook HTTP round trip through nginx ({errors} not 200)", http))
        print(row(f"{rate}/s: webhook -> message.created on an agent socket", to_socket, len(posted), floor_p95))
        print(row(f"{rate}/s: webhook -> text in the agent's DOM (Chromium)", to_dom, len(posted), floor_p95))
        if lag:
            print(row(f"{rate}/s: webhook -> mood read by the AI pool (0.1 s polls)", lag, len(posted)))
    print_cpu(cpu)


def print_cpu(cpu: dict[int, dict[str, float]]) -> None:
    """Each part's CPU per message while a rate ran (until every message was on the page; the AI pool's share is
    what it did meanwhile, not all of its work), and what the message's path alone needs at that rate."""
    if not cpu:
        return
    rates = sorted(cpu)
    parts = sorted({part for table in cpu.values() for part in table}, key=lambda p: -cpu[rates[-1]].get(p, 0.0))
    print(f"\nCPU per message while each rate ran, ms ({os.cpu_count()} cores: {os.cpu_count()} s of CPU a second)")
    print(f"{'part':<34}" + "".join(f"{f'{rate}/s':>10}" for rate in rates))
    for part in parts:
        print(f"{part:<34}" + "".join(f"{cpu[rate].get(part, 0.0):>10.1f}" for rate in rates))
    clients = ("browser (Chromium)", "clients (this process)", "worker-ai")
    for rate in rates:
        path = sum(v for part, v in cpu[rate].items() if part not in clients)
        print(
            f"{rate}/s: the message's path (all but the AI pool and the clients) {path:.1f} ms a message = "
            f"{path * rate / 1000:.2f} cores at this rate"
        )


def burst(args: argparse.Namespace, database_url: str, redis_url: str, folder: Path, port: int) -> None:
    print(
        f"\nBurst: {args.burst} messages from {args.burst // 2} customers posted through nginx by 16 connections; "
        f"the inbound and ai pools at N processes each; {os.cpu_count()} cores"
    )
    print(f"{'processes':<10} {'posting s':>9} {'stored s':>9} {'analyzed s':>10} {'noted s':>8} "
          f"{'msg/s stored':>12} {'webhook p99 ms':>14} {'vs 1':>6}")  # fmt: skip
    first: float | None = None
    for processes in (1, 2, 4):
        # the same address each time: webhooks are signed for the public URL, which names the port
        pools = {"worker-inbound": processes, "worker-ai": processes}
        layout = Layout(database_url, redis_url, folder, port=port, concurrency=pools)
        with layout.running():
            facts = fixtures()
            figures = burst_once(layout, facts, args.burst, processes)
        first = first or figures["noted"]
        print(
            f"{processes:<10} {figures['posting']:>9.1f} {figures['stored']:>9.1f} {figures['analyzed']:>10.1f} "
            f"{figures['noted']:>8.1f} {args.burst / figures['stored']:>12.0f} {figures['p99']:>14.1f} "
            f"{first / figures['noted']:>5.2f}x"
        )


def burst_once(layout: Layout, facts: dict[str, Any], count: int, processes: int) -> dict[str, float]:
    from django.db.models import Max

    from inbox.models import Message
    from memory.models import AiNote, SentimentReading

    run = uuid.uuid4().hex[:6]
    customers = [f"+1313{processes}{n:06d}" for n in range(count // 2)]
    poster = Poster(facts["url"], layout.base_url)
    started = time.monotonic()
    results: list[tuple[float, float, int]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        bodies = [(customers[k % len(customers)], f"burst {run} {k}: where is my refund? rt-{uuid.uuid4().hex[:12]}")
                  for k in range(count)]  # fmt: skip
        results = list(pool.map(lambda cb: poster.post(*cb), bodies))
    posting = time.monotonic() - started
    mine = Message.objects.filter(account_id=facts["account"], body__startswith=f"burst {run} ")
    stored = analyzed = noted = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and noted is None:
        now = time.monotonic() - started
        if stored is None and mine.count() >= count:
            stored = now
        if (
            stored is not None
            and analyzed is None
            and SentimentReading.objects.filter(message__in=mine).count() >= count
        ):
            analyzed = now
        if analyzed is not None:
            last = dict(
                mine.values("conversation_id").annotate(at=Max("created_at")).values_list("conversation_id", "at")
            )
            notes = dict(
                AiNote.objects.filter(conversation_id__in=list(last)).values("conversation_id")
                .annotate(at=Max("created_at")).values_list("conversation_id", "at")
            )  # fmt: skip
            if all(c in notes and notes[c] >= at for c, at in last.items()):
                noted = now
        time.sleep(0.2)
    http = [(done - start) * 1000 for start, done, _ in results]
    return {"posting": posting, "stored": stored or float("nan"), "analyzed": analyzed or float("nan"),
            "noted": noted or float("nan"), "p99": percentile(http, 99)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--floor-samples", type=int, default=100)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--ai-wait", type=float, default=90, help="seconds to wait for each rate's analysis (0: not)")
    parser.add_argument("--only", choices=["realtime", "burst"], help="one part (and the floor with realtime)")
    args = parser.parse_args()

    # A database of its own, made anew each run: the other benchmarks' data (a million messages, their beat sweeps)
    # would share the two cores with what is measured here.
    database_url = database_from_template(os.environ["DATABASE_URL"], "continuum_realtime_bench", replace=True)
    redis_url = os.environ["REDIS_URL"]
    os.environ["DATABASE_URL"] = database_url  # this process's fixtures, as the owner
    folder = Path(os.environ.get("CONTINUUM_VAR_DIR", ROOT / "var")) / "prod-local-bench"
    layout = Layout(database_url, redis_url, folder)
    setup_django(layout)
    layout.prepare()
    from common import purge_queues

    purge_queues()
    if args.only != "burst":
        probe = probe_worker(layout)
        try:
            with layout.running():
                facts = fixtures()
                realtime(layout, probe, facts, args.seconds, args.customers, args.floor_samples, args.ai_wait)
        finally:
            probe.terminate()
            probe.wait(timeout=30)
    if args.only != "realtime":
        with contextlib.suppress(PermissionError):  # the burst's server processes at the usual priority again
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        purge_queues()
        burst(args, database_url, redis_url, folder, layout.port)


if __name__ == "__main__":
    main()

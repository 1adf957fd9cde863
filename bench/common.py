"""What the benchmarks share: production settings on the embedded stack, a free port, percentiles, and the
production HTTP server (gunicorn, 2 sync workers) started and stopped around a measurement."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def production_settings() -> None:
    """Settings as a deployment runs them (DEBUG off), on whatever DATABASE_URL / REDIS_URL the stack gives."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CONTINUUM_ENV", "production")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-0123456789-0123456789")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("ENCRYPTION_KEYS", "YmVuY2gtb25seS1lbmNyeXB0aW9uLWtleS0zMi1ieXQ=")  # bench data only
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # plain HTTP on 127.0.0.1: no redirect, no HSTS
    os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
    # One token sends thousands of requests a second here: its rate limit would answer 429 to nearly all of them
    # (the limit's own Redis counter is still on the path and measured).
    os.environ.setdefault("API_RATE_PER_TOKEN", "100000000/min")
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # one warning line per refused request would drown the figures


TEMPLATE = "continuum_bench_template"


def _migrations_stamp() -> str:
    """Which migrations a database has: a digest of every migration file."""
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return f"migrations {digest.hexdigest()[:20]}"


def database_from_template(owner_url: str, name: str, *, replace: bool) -> str:
    """The URL of database `name`, made (or, with `replace`, made anew) as a copy of a migrated, empty template.

    A fresh database's migrations took 9 s of a quick run each (three benchmarks make one); `CREATE DATABASE ...
    TEMPLATE` copies the template's files in a fraction of a second. The template is migrated again when the
    migration files change (their digest is its comment) and is kept with the data between runs. A database that
    exists and has tables is kept as it is unless `replace`."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(owner_url)

    def url(database: str) -> str:
        return urlunsplit(parts._replace(path=f"/{database}"))

    with psycopg.connect(url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and not replace:
            with psycopg.connect(url(name)) as target:
                if target.execute("SELECT to_regclass('django_migrations')").fetchone() != (None,):
                    return url(name)
        stamp = _migrations_stamp()
        found = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (TEMPLATE,)
        ).fetchone()
        if found is None or found[0] != stamp:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
            migrate = [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"]
            subprocess.run(migrate, cwd=ROOT, env={**os.environ, "DATABASE_URL": url(TEMPLATE)}, check=True)  # noqa: S603
            conn.execute(f"COMMENT ON DATABASE \"{TEMPLATE}\" IS '{stamp}'")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return url(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@contextlib.contextmanager
def gunicorn(workers: int = 2) -> Iterator[str]:
    """Serve the project with gunicorn on a free port; yield its base URL; stop it afterwards."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - a fixed command line
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


@contextlib.contextmanager
def celery_worker(queues: str = "inbound,outbound,ai,celery", env: dict[str, str] | None = None) -> Iterator[None]:
    """A real Celery worker (2 processes, as in the Procfile) on the stack's Redis, answering pings before the
    block runs; stopped afterwards."""
    worker = subprocess.Popen(  # noqa: S603 - a fixed command line
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
            "--queues",
            queues,
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env or os.environ.copy(),
    )
    try:
        from config.celery_app import app

        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the Celery worker did not start")
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def purge_queues(queues: tuple[str, ...] = ("inbound", "outbound", "ai", "celery")) -> None:
    """Drop tasks earlier benchmarks left queued on this Redis (bench/webhook_bench.py leaves thousands): a
    latency probe must not wait behind them."""
    from config.celery_app import app

    with app.connection_for_write() as conn:
        dropped = sum(conn.default_channel.queue_purge(queue) or 0 for queue in queues)
    if dropped:
        print(f"(purged {dropped} tasks left queued by earlier benchmarks)")


def volume_account(conversations: int) -> Any:
    """The "Volume (benchmark)" account with at least `conversations` conversations (10 messages each), seeded by
    `manage.py seed_volume` on first use (Django must be set up; migrations are applied)."""
    from django.core.management import call_command

    from accounts.models import Account
    from inbox.models import Conversation

    call_command("migrate", "--noinput", verbosity=0)
    account = Account.objects.filter(name="Volume (benchmark)").first()
    have = Conversation.objects.filter(account=account).count() if account else 0
    if have < conversations:
        seed = [sys.executable, "manage.py", "seed_volume", "--conversations", str(conversations - have)]
        if account is not None:
            seed += ["--account", str(account.pk)]
        # seed_volume refuses production settings; the seed itself runs with development ones.
        subprocess.run(seed, cwd=ROOT, env={**os.environ, "CONTINUUM_ENV": "development"}, check=True)  # noqa: S603
        account = Account.objects.get(name="Volume (benchmark)")
    return account


def sign_in(session: Any, base: str, email: str, password: str) -> Any:
    """Sign a requests session in through the console's login form (CSRF token and Referer as a browser sends
    them); returns the session."""
    import re

    page = session.get(f"{base}/auth/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    answer = session.post(
        f"{base}/auth/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/auth/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.status_code
    return session

"""Shared fixtures: two tenants with people in them, API clients, and a real Celery worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from rest_framework.test import APIClient

from accounts.models import Account, Membership, Role, User
from tests.factories import AccountFactory, MembershipFactory, api_token_for

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Tenant:
    """An account with an admin and an agent, and API tokens for both."""

    account: Account
    admin: User
    agent: User
    admin_membership: Membership
    agent_membership: Membership
    admin_token: str
    agent_token: str

    def client(self, who: str = "admin") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.admin_token if who == 'admin' else self.agent_token}")
        return client


def make_tenant(name: str) -> Tenant:
    account = AccountFactory(name=name)
    admin_membership = MembershipFactory(account=account, role=Role.ADMIN)
    agent_membership = MembershipFactory(account=account, role=Role.AGENT)
    return Tenant(
        account=account,
        admin=admin_membership.user,
        agent=agent_membership.user,
        admin_membership=admin_membership,
        agent_membership=agent_membership,
        admin_token=api_token_for(admin_membership),
        agent_token=api_token_for(agent_membership),
    )


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Tenant A")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Tenant B")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the test Redis, using this test's database (transaction tests only:
    the worker must see committed rows)."""
    from django.conf import settings
    from django.db import connection

    from config.celery_app import app

    db = connection.settings_dict
    url = urlparse(os.environ.get("DATABASE_URL", "postgresql:///continuum"))
    env = dict(os.environ)
    env["DATABASE_URL"] = urlunparse(url._replace(path=f"/{db['NAME']}"))
    env["REDIS_URL"] = settings.REDIS_URL
    env.pop("PYTEST_XDIST_WORKER", None)  # REDIS_URL above is already this test worker's own Redis database
    hostname = f"test-{os.getpid()}-{_free_port()}@%h"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--hostname",
            hostname,
            "--queues",
            ",".join(settings.WORKER_QUEUES),
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until(
            lambda: proc.poll() is not None or app.control.ping(timeout=0.5),
            timeout=60,
            what="the Celery worker to answer a ping",
        )
        assert proc.poll() is None, "the Celery worker exited while starting"
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session", autouse=True)
def _fresh_redis() -> None:
    """This test process's own Redis database starts empty: the test database is new each run, so ids repeat,
    and keys an earlier run left (a pending note of conversation 1, a rate-limit window) must not meet them."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(scope="session", autouse=True)
def _close_stray_db_sessions(django_db_setup: None, django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Before the test database is dropped, end sessions other threads left open (async consumers run their
    queries in worker threads), so that teardown never fails on "database is being accessed by other users"."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


# An API request that serves one account switches the connection to the row-level-security role and back
# (accounts.tenant_db): two statements on top of what the view reads.
RLS = 2

WORKER_TWILIO = ("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "twilio-auth-token-for-tests")
PUBLIC_BASE = "https://inbox.example.com"


@pytest.fixture
def fake_twilio_for_worker(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Any]:
    """A fake Twilio (account WORKER_TWILIO) for this process and for a worker it starts afterwards (which reads
    the environment): request it before `celery_worker_process`."""
    from tests.fakes.twilio_server import FakeTwilio

    with FakeTwilio(*WORKER_TWILIO) as fake:
        monkeypatch.setenv("TWILIO_API_BASE_URL", fake.url)
        monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE)
        settings.TWILIO_API_BASE_URL = fake.url
        settings.PUBLIC_BASE_URL = PUBLIC_BASE
        yield fake


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery tasks run inline when queued (after commit, with django_capture_on_commit_callbacks), for tests that
    follow work through the queue without starting a worker."""
    from config.celery_app import app

    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False

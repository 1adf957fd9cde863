"""The production layout, run for real: docker-compose.yml's processes (config/prodlocal.py) on this machine.

gunicorn twice (two web processes), uvicorn twice (two socket processes), a Celery pool per queue, beat and
Debian's nginx in front, on a database of their own in the test cluster, logged in as the application's
non-superuser role. An agent's socket on one socket process and an admin's socket through nginx both see a
customer's SMS that a provider posted to the first web process, and the agent's reply sent through the second web
process; the reply leaves through the outbound pool (the sandbox carrier) and comes back delivered.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import yaml

from config.prodlocal import ROOT, Layout, nginx_binary

pytestmark = pytest.mark.skipif(
    nginx_binary() is None and not os.environ.get("CONTINUUM_REQUIRE_NGINX"),
    reason="Debian's nginx is not installed (.ci/run installs it)",
)

PASSWORD = "continuum-demo"
FACTS = """
import json
from accounts.models import Account, User
from channels_app.adapters import twilio
from channels_app.credentials import credentials_get
from channels_app.models import ChannelEndpoint
account = Account.objects.get(name="Acme Plumbing (demo)")
sms = ChannelEndpoint.objects.get(account=account, kind="sms", options__sandbox=True)
creds = credentials_get(sms)
print(json.dumps({"account": account.pk, "number": sms.address, "url": twilio.webhook_url(sms, "messaging"),
                  "token": creds["auth_token"], "sid": creds["account_sid"]}))
"""


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layout]:
    import psycopg

    owner = os.environ["DATABASE_URL"]
    name = f"continuum_layout_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(owner)
    database_url = urlunsplit(parts._replace(path=f"/{name}"))
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_url = urlunsplit(urlsplit(os.environ["REDIS_URL"])._replace(path="/15"))
    folder = tmp_path_factory.mktemp("prod-local")
    try:
        built = Layout(database_url, redis_url, folder, scale={"web": 2, "ws": 2})
        built.prepare(demo=True)
        with built.running():
            yield built
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import redis

        redis.Redis.from_url(redis_url).flushdb()


def _demo_facts(layout: Layout) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", FACTS],
        cwd=ROOT, env={**layout.app_env, "LOG_LEVEL": "ERROR"}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _sign_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/auth/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    answer = session.post(
        f"{base}/auth/login/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/auth/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    return session


class Listener:
    """A console socket in a thread; every event it receives is put on `events`."""

    def __init__(self, url: str, origin: str, session: requests.Session) -> None:
        from websockets.sync.client import connect
        from websockets.typing import Origin

        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        self.stack = contextlib.ExitStack()
        self.socket = self.stack.enter_context(
            connect(url, origin=Origin(origin), additional_headers={"Cookie": cookie}, open_timeout=10)
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        hello = json.loads(self.socket.recv(timeout=10))
        assert hello["type"] == "hello", hello
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self.socket:
                self.events.put(json.loads(raw))
        except ConnectionClosed:
            pass

    def wait_for(self, test: Any, seconds: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        seen = []
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(event.get("type"))
            if test(event):
                return event
        raise AssertionError(f"no such event within {seconds} s; saw {seen}")

    def close(self) -> None:
        self.stack.close()


def test_agent_on_one_socket_process_sees_what_another_web_process_ingests_and_a_third_sends(
    layout: Layout,
) -> None:
    from twilio.request_validator import RequestValidator

    facts = _demo_facts(layout)
    account = facts["account"]
    web1, web2 = (f"http://127.0.0.1:{port}" for port in layout.ports["web"])
    ws1 = f"ws://127.0.0.1:{layout.ports['ws'][0]}"

    # the production settings are in force: DEBUG off, the application's own role (not the owner) under RLS
    assert layout.app_env["CONTINUUM_ENV"] == "production"
    assert layout.app_env["DATABASE_URL"].startswith("postgresql://continuum_web:")
    assert requests.get(f"{layout.base_url}/static/js/console.js", timeout=10).status_code == 200  # nginx -> web

    agent = _sign_in(layout.base_url, "dana@demo.continuum.test")
    admin = _sign_in(layout.base_url, "admin@demo.continuum.test")
    path = f"/ws/v1/accounts/{account}/"
    on_ws1 = Listener(ws1 + path, layout.base_url, agent)  # straight to the first socket process
    through_nginx = Listener(layout.base_url.replace("http", "ws") + path, layout.base_url, admin)
    try:
        # a customer's SMS, signed as Twilio signs it (for the public URL), posted to the first web process
        customer, words = "+15555550142", f"Is the boiler fixed yet? {uuid.uuid4().hex[:6]}"
        sid = "SM" + uuid.uuid4().hex
        fields = {"MessageSid": sid, "SmsSid": sid, "AccountSid": facts["sid"], "From": customer,
                  "To": facts["number"], "Body": words, "NumMedia": "0", "NumSegments": "1"}  # fmt: skip
        signature = RequestValidator(facts["token"]).compute_signature(facts["url"], fields)
        posted = requests.post(
            web1 + urlsplit(facts["url"]).path, data=fields, headers={"X-Twilio-Signature": signature}, timeout=10
        )
        assert posted.status_code == 200, posted.text[:300]
        forged = requests.post(
            web1 + urlsplit(facts["url"]).path, data=fields, headers={"X-Twilio-Signature": "forged"}, timeout=10
        )
        assert forged.status_code == 403

        arrived = on_ws1.wait_for(lambda e: e.get("type") == "message.created" and e["message"]["body"] == words)
        conversation = arrived["conversation_id"]
        through_nginx.wait_for(
            lambda e: e.get("type") == "message.created" and e.get("conversation_id") == conversation
        )

        api = f"/api/v1/accounts/{account}/conversations/{conversation}/messages"
        thread = agent.get(web2 + api, timeout=10).json()
        assert any(m["body"] == words for m in thread["results"]), thread

        # the agent answers through the second web process (the console's session and CSRF token)
        csrf = agent.cookies.get("csrftoken")
        reply = agent.post(
            web2 + api,
            json={"body": "On our way this afternoon.", "kind": "message"},
            headers={"X-CSRFToken": csrf or "", "Referer": layout.base_url + "/"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text[:300]
        reply_id = reply.json()["id"]
        for listener in (on_ws1, through_nginx):
            listener.wait_for(lambda e: e.get("type") == "message.created" and e["message"]["id"] == reply_id)

        # the outbound pool sends it (the sandbox carrier answers in-process) and the status comes back signed
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            status = next(m for m in agent.get(web1 + api, timeout=10).json()["results"] if m["id"] == reply_id)
            if status["delivery_status"] == "delivered":
                break
            time.sleep(0.3)
        assert status is not None and status["delivery_status"] == "delivered", status
    finally:
        on_ws1.close()
        through_nginx.close()

    access = Path(layout.folder, "nginx-access.log").read_text()
    assert f"GET /ws/v1/accounts/{account}/" in access  # the admin's socket went through nginx
    assert "csrfmiddlewaretoken" not in access and words not in access


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="this kernel schedules without autogroups")
def test_the_ai_pool_yields_the_cpu_to_the_message_path(layout: Layout) -> None:
    # Under autogroup scheduling nice only ranks processes inside a session, and each process here has its own: the
    # AI pool's session carries the compose file's nice (its cpu_shares in containers), the message path's do not.
    def session_nice(name: str) -> int:
        proc = next(p for p in layout.processes if p.name == name)
        assert proc.popen is not None
        return int(Path(f"/proc/{proc.popen.pid}/autogroup").read_text().split()[-1])

    assert session_nice("worker-ai") == 10
    assert session_nice("worker-inbound") == session_nice("ws.1") == session_nice("web.1") == 0
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["worker-ai"]["cpu_shares"] < 1024  # below the others' default weight
    assert compose["services"]["worker-ai"]["command"][:3] == ["nice", "-n", "10"]


def test_a_process_that_ignores_the_stop_signal_is_ended_after_the_grace(tmp_path: Path) -> None:
    """A Celery pool's warm shutdown can wait forever on a task it received as it began: after compose's grace the
    layout sends SIGQUIT (Celery's cold shutdown), then SIGKILL; it never waits on one process without end."""
    import signal

    from config.prodlocal import Process

    layout = Layout("postgresql:///unused", "redis://127.0.0.1:1/0", tmp_path)
    layout.STOP_GRACE = 0.5
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    )
    popen = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, start_new_session=True)
    assert popen.stdout is not None and popen.stdout.readline() == b"up\n"
    layout.processes = [Process("stubborn", [], {}, popen=popen)]
    started = time.monotonic()
    layout.stop()
    assert popen.returncode == -signal.SIGQUIT
    assert time.monotonic() - started < 5

"""Real processes for the fault drills: a Redis of the drill's own (so stopping it touches no other test), Celery
workers that can be killed with SIGKILL, and gunicorn serving the webhooks, all on this test's database."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from config.stack import _redis_binary
from tests.conftest import ROOT

RESULTS = ROOT / "var" / "drills"


def _log() -> Any:
    """Where the drill's processes write (their retries and refusals are expected noise): var/drills/processes.log."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return open(RESULTS / "processes.log", "ab")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on port {port}") from None
            time.sleep(0.05)


def process_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a process that works on this test's database and the given Redis."""
    from django.db import connection

    url = urlparse(os.environ.get("DATABASE_URL", "postgresql:///continuum"))
    env = dict(os.environ)
    env["DATABASE_URL"] = urlunparse(url._replace(path=f"/{connection.settings_dict['NAME']}"))
    env["REDIS_URL"] = redis_url
    env.pop("PYTEST_XDIST_WORKER", None)
    env.update(extra)
    return env


class DrillRedis:
    """A redis-server with an append-only file: stopped (SIGTERM, it saves) and started again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(_redis_binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
             "--appendonly", "yes", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server cannot stop
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def pause(self) -> None:
        """A stall: the server accepts connections (the kernel does) but answers nothing."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


class Worker:
    """`celery worker` (prefork, 2 processes as in the Procfile) in its own process group, so SIGKILL takes the
    parent and its children at once, as a machine or container dying would."""

    def __init__(self, env: dict[str, str], queues: str = "inbound,outbound,ai,celery") -> None:
        name = f"drill-{os.getpid()}-{free_port()}@%h"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2",
             "--loglevel", "ERROR", "--hostname", name, "--queues", queues, "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, start_new_session=True, stdout=_log(), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()


class Web:
    """gunicorn serving the app (webhooks included) on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "8", "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True, stdout=_log(), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_port(self.port, self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)


def record(name: str, figures: dict[str, Any]) -> None:
    """The drill's figures, for docs/reliability.md (var/drills/<name>.json) and the test's output."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"drill {name}: {json.dumps(figures)}")


class DrillPostgres:
    """A PostgreSQL cluster of the drill's own (the embedded server's binaries), migrated, that the drill stops
    and starts again; the test database is never touched."""

    def __init__(self, data_dir: Path) -> None:
        import warnings
        from urllib.parse import parse_qs

        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        self.server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
        self.socket_dir = parse_qs(urlparse(self.server.get_uri()).query)["host"][0]
        self.server.psql("CREATE DATABASE drill;")
        self.url = f"postgresql://postgres:@/drill?host={self.socket_dir}"

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=20)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.server.log), "start")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        # pgserver's own exit handler would run after pytest closed the log streams (noise at exit): run it now.
        with contextlib.suppress(Exception):
            self.server.cleanup()
        atexit.unregister(self.server._cleanup)

    def query(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(host=self.socket_dir, user="postgres", dbname="drill", autocommit=True) as conn:
            return conn.execute(sql).fetchone()


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout

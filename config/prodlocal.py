"""The production layout on one machine: exactly the processes docker-compose.yml runs, started on the embedded
PostgreSQL and Redis, behind Debian's nginx with deploy/nginx.conf.

    make prod-local                                   # http://127.0.0.1:8080/ with the demo account; Ctrl-C stops
    python -m config.prodlocal --port 8080 --scale web=2 --scale ws=2

The commands and the environment come from docker-compose.yml itself (its `${NAME:-default}` values filled in the
way compose fills them), so what runs here is what a deployment runs: the `migrate` service first (migrations, then
the application's non-superuser database role), then gunicorn (web), uvicorn (ws), one Celery pool per queue
(worker-*), beat, and nginx routing `/ws/` to the socket processes and the rest to gunicorn. Only what names the
containers' network is changed: addresses become 127.0.0.1 and free ports, the database and Redis URLs point at
the embedded servers, the secrets are generated once per data folder, and nginx's paths live in the data folder.

`Layout` is also what the production-layout integration test (tests/test_prod_layout.py) and the benchmarks start.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from config.stack import _free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
APP_ROLE = "continuum_web"
# Services of the compose file that run our image, in the order they start; the proxy is nginx.
APP_SERVICES = ("web", "ws", "worker-inbound", "worker-outbound", "worker-webhooks", "worker-ai", "beat", "mail")
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _say(message: str) -> None:
    print(f"[prod-local] {message}", flush=True)


def nginx_binary() -> str | None:
    """Debian's nginx, also when /usr/sbin is not on PATH."""
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """`${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}` as docker compose reads them."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        have = variables.get(name)
        if op in (":-", "-"):
            if have is None or (op == ":-" and have == ""):
                return arg
            return have
        if op in (":?", "?"):
            if have is None or (op == ":?" and have == ""):
                raise SystemExit(f"docker-compose.yml needs {name}: {arg}")
            return have
        return have or ""

    return _INTERPOLATION.sub(one, value)


def compose_services(variables: dict[str, str], path: Path = COMPOSE) -> dict[str, dict[str, object]]:
    """The compose file's services with their command (a list) and environment (interpolated)."""
    import yaml  # a development dependency, as this launcher is

    data = yaml.safe_load(path.read_text())
    services: dict[str, dict[str, object]] = {}
    for name, spec in data["services"].items():
        command = spec.get("command") or []
        if isinstance(command, str):
            command = shlex.split(command)
        environment = {k: interpolate(str(v), variables) for k, v in (spec.get("environment") or {}).items()}
        services[name] = {"command": [str(part) for part in command], "environment": environment}
    return services


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _secrets(folder: Path) -> dict[str, str]:
    """SECRET_KEY, ENCRYPTION_KEYS and APP_DB_PASSWORD for this data folder, made once and kept (like a .env)."""
    path = folder / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value
    if not {"SECRET_KEY", "ENCRYPTION_KEYS", "APP_DB_PASSWORD"} <= values.keys():
        from cryptography.fernet import Fernet

        values = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "APP_DB_PASSWORD": secrets.token_urlsafe(18),
        }
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return values


def _as_role(database_url: str, role: str, password: str) -> str:
    """The same database as another login: `postgresql://ROLE:PASSWORD@host/db?query`."""
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _executable(command: list[str]) -> list[str]:
    """The compose command with its program from this virtualenv (the image's PATH has them the same way)."""
    program, rest = command[0], command[1:]
    if program == "nice" and rest[:1] == ["-n"]:
        return [program, *rest[:2], *_executable(rest[2:])]
    if program in ("gunicorn", "uvicorn", "celery"):
        return [sys.executable, "-m", program, *rest]
    if program == "python":
        return [sys.executable, *rest]
    return command


def _session_nice(pid: int, argv: list[str]) -> None:
    """A `nice -n N` process's session gets N too. Under autogroup scheduling (`kernel.sched_autogroup_enabled`, on
    by default on most Linux hosts) the CPU is shared between sessions first and nice only ranks the processes inside
    one; each process here starts a session of its own, so `nice` alone left the AI pool level with the inbound pool
    (measured: 45% and 46% of a core each while the inbound queue fell behind). In containers the same weight is the
    compose file's `cpu_shares`."""
    if argv[:2] != ["nice", "-n"] or len(argv) < 3:
        return
    with contextlib.suppress(OSError, ValueError):  # no autogroups (a kernel without them): nice alone it is
        Path(f"/proc/{pid}/autogroup").write_text(str(int(argv[2])))


def _rebind(command: list[str], port: int) -> list[str]:
    """Listen on 127.0.0.1:`port` instead of the container's 0.0.0.0:<its port>."""
    out: list[str] = []
    skip = False
    for i, part in enumerate(command):
        if skip:
            skip = False
            continue
        if re.fullmatch(r"0\.0\.0\.0:\d+", part):
            out.append(f"127.0.0.1:{port}")
        elif part == "--host" and i + 1 < len(command):
            out += ["--host", "127.0.0.1"]
            skip = True
        elif part == "--port" and i + 1 < len(command):
            out += ["--port", str(port)]
            skip = True
        else:
            out.append(part)
    return out


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class Layout:
    """The processes of docker-compose.yml, ready to start. `base_url` is nginx's address (what a browser uses);
    `ports[service]` lists the ports of the scaled processes behind it (web and ws)."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        folder: Path,
        port: int | None = None,
        scale: dict[str, int] | None = None,
        extra_env: dict[str, str] | None = None,
        concurrency: dict[str, int] | None = None,
    ) -> None:
        self.folder = folder = folder.resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.owner_database_url = database_url
        self.scale = {"web": 1, "ws": 1, **(scale or {})}
        keys = _secrets(folder)
        origins = f"http://127.0.0.1:{self.port},http://localhost:{self.port}"
        variables = {
            **keys,
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": origins,
            "PUBLIC_BASE_URL": self.base_url,
        }
        self.services = compose_services(variables)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_", "CONTINUUM_"))}
        base.pop("DATABASE_URL", None)
        base.pop("REDIS_URL", None)
        local = {
            # the containers' network names (postgres, redis) become the embedded servers
            "REDIS_URL": redis_url,
            "STATIC_ROOT": str(folder / "static"),
            "MEDIA_ROOT": str(folder / "media"),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.app_env = {
            **base,
            **self.services["web"]["environment"],  # type: ignore[dict-item]
            **local,
            "DATABASE_URL": _as_role(database_url, APP_ROLE, keys["APP_DB_PASSWORD"]),
        }
        self.migrate_env = {
            **base,
            **self.services["migrate"]["environment"],  # type: ignore[dict-item]
            **local,
            "DATABASE_URL": database_url,
        }
        self.ports: dict[str, list[int]] = {}
        self.processes: list[Process] = []
        for service in APP_SERVICES:
            command = _executable(list(self.services[service]["command"]))  # type: ignore[call-overload]
            count = self.scale.get(service, 1)
            for index in range(count):
                name = service if count == 1 else f"{service}.{index + 1}"
                port = None
                argv = command
                if service in ("web", "ws"):
                    port = _free_port()
                    self.ports.setdefault(service, []).append(port)
                    argv = _rebind(command, port)
                    if "gunicorn" in argv[:3]:  # one control socket per master (a container has its own home)
                        argv = [*argv, "--control-socket", str(folder / f"gunicorn-{port}.ctl")]
                if service in (concurrency or {}) and "--concurrency" in argv:  # a benchmark's pool sizes
                    at = argv.index("--concurrency") + 1
                    argv = [*argv[:at], str((concurrency or {})[service]), *argv[at + 1 :]]
                if "--hostname" in argv:  # one Celery node name per pool and data folder
                    at = argv.index("--hostname") + 1
                    node, _, host = argv[at].partition("@")
                    argv = [*argv[:at], f"{node}-{os.getpid()}-{index + 1}@{host}", *argv[at + 1 :]]
                self.processes.append(Process(name, argv, self.app_env, port))
        nginx = nginx_binary()
        if nginx is None:
            raise SystemExit("nginx is not installed: `apt-get install nginx` (Debian's package) and try again")
        self.processes.append(
            Process(
                "proxy",
                [nginx, "-p", str(folder), "-c", str(self.write_nginx_conf()), "-g", "daemon off;"],
                dict(base),
                self.port,
            )
        )

    def write_nginx_conf(self) -> Path:
        """deploy/nginx.conf inside a main context, upstreams at the local ports, paths in the data folder."""
        server = NGINX_CONF.read_text()
        replacements = {
            "server web:8000;": " ".join(f"server 127.0.0.1:{p};" for p in self.ports["web"]),
            "server ws:8001;": " ".join(f"server 127.0.0.1:{p};" for p in self.ports["ws"]),
            "listen 80;": f"listen 127.0.0.1:{self.port};",
            "/var/log/nginx/access.log": str(self.folder / "nginx-access.log"),
        }
        for old, new in replacements.items():
            if old not in server:
                raise SystemExit(f"deploy/nginx.conf no longer has {old!r}: update config/prodlocal.py with it")
            server = server.replace(old, new)
        temp = self.folder / "nginx-temp"
        temp.mkdir(exist_ok=True)
        paths = "\n".join(
            f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        body = "\n".join("    " + line if line else line for line in server.splitlines())
        conf = self.folder / "nginx.conf"
        conf.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 2;\npid {self.folder / 'nginx.pid'};\n"
            + f"error_log {self.folder / 'nginx-error.log'} warn;\n"
            + "events { worker_connections 4096; }\n"
            + f"http {{\n{paths}\n{body}\n}}\n"
        )
        return conf

    def prepare(self, demo: bool = False) -> None:
        """What runs before the services: compose's `migrate` service, the static files the image collects at
        build time, and (for `make prod-local`) the demo account."""
        migrate = list(self.services["migrate"]["command"])  # type: ignore[call-overload]
        self._run("migrate", migrate, self.migrate_env)
        self._run("collectstatic", [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], self.app_env)
        if demo:  # seed_demo refuses production settings; the seed itself runs with development ones
            self._run("seed_demo", [sys.executable, "manage.py", "seed_demo"],
                      {**self.migrate_env, "CONTINUUM_ENV": "development"})  # fmt: skip

    def _run(self, what: str, argv: list[str], env: dict[str, str]) -> None:
        """A preparation step, its output kept in <folder>/logs/<what>.log (shown when it fails)."""
        env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        (self.folder / "logs").mkdir(exist_ok=True)
        log = self.folder / "logs" / f"{what}.log"
        with log.open("wb") as out:
            done = subprocess.run(argv, cwd=ROOT, env=env, check=False, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - the compose file's command
        if done.returncode != 0:
            raise SystemExit(f"{what} failed with exit code {done.returncode}: {log.read_text()[-2000:]}")
        _say(f"{what}: done (output in {log})")

    @contextlib.contextmanager
    def running(self, timeout: float = 90) -> Iterator[Layout]:
        """Start every process (output in <folder>/logs/<name>.log), wait until each answers, stop them all after."""
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        try:
            for proc in self.processes:
                log = open(logs / f"{proc.name}.log", "wb")  # noqa: SIM115 - handed to the child
                proc.popen = subprocess.Popen(  # noqa: S603 - commands from docker-compose.yml
                    proc.argv, cwd=ROOT, env=proc.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
                _session_nice(proc.popen.pid, proc.argv)
            self.wait_ready(timeout)
            yield self
        finally:
            self.stop()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            while proc.port is not None and not _listening(proc.port):
                if proc.popen is not None and proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {self.log_tail(proc.name)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} did not listen on {proc.port}: {self.log_tail(proc.name)}")
                time.sleep(0.1)
        from celery import Celery

        pools = [p for p in self.processes if p.name.startswith("worker")]
        names = {p.argv[p.argv.index("--hostname") + 1].replace("%h", socket.gethostname()) for p in pools}
        control = Celery(broker=self.app_env["REDIS_URL"], set_as_current=False)
        try:
            while True:  # every pool answers a ping on the broker (its log level may hide the "ready" line)
                replies = control.control.ping(destination=sorted(names), timeout=0.5)
                if names <= {name for reply in replies for name in reply}:
                    break
                for proc in pools:
                    if proc.popen is not None and proc.popen.poll() is not None:
                        raise RuntimeError(f"{proc.name} exited: {self.log_tail(proc.name)}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the Celery pools did not answer in time")
        finally:
            control.close()

    def log_tail(self, name: str, size: int = 2000) -> str:
        path = self.folder / "logs" / f"{name}.log"
        try:
            return path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    STOP_GRACE = 10.0  # seconds for every process to stop on SIGTERM (docker compose's default)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.popen is not None and proc.popen.poll() is None:
                # the main process only: Celery's warm shutdown lets its pool finish the task in hand
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        # Docker's grace (compose's default stop_grace_period, 10 s), then a cold shutdown (SIGQUIT: a Celery pool
        # ends its children at once; an acks_late task they held goes back to the queue), then SIGKILL. A Celery
        # pool's warm shutdown sometimes never ends: a task received as it began is waited for but never run
        # (seen in the realtime bench's AI pool, one stop in three; celery/celery#4354).
        deadline = time.monotonic() + self.STOP_GRACE
        for proc in self.processes:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGQUIT)
                try:
                    proc.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.popen.pid, signal.SIGKILL)
                    proc.popen.wait()


def _scale(values: list[str]) -> dict[str, int]:
    scale: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition("=")
        if name not in ("web", "ws") or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--scale {value}: use web=N or ws=N with N >= 1")
        scale[name] = int(count)
    return scale


def main(argv: list[str] | None = None) -> int:
    from honcho.manager import Manager

    from config.stack import VAR_DIR, embedded_services

    parser = argparse.ArgumentParser(prog="python -m config.prodlocal", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PROD_LOCAL_PORT", "8080")))
    parser.add_argument("--scale", action="append", default=[], help="web=N or ws=N (processes behind nginx)")
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo account")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with embedded_services(VAR_DIR) as env:
        layout = Layout(env["DATABASE_URL"], env["REDIS_URL"], VAR_DIR / "prod-local", args.port, _scale(args.scale))
        layout.prepare(demo=not args.no_demo)
        manager = Manager()
        for proc in layout.processes:
            manager.add_process(proc.name, shlex.join(proc.argv), quiet=False, env=proc.env, cwd=str(ROOT))
        _say(f"the production layout is starting on {layout.base_url}/ (nginx) - Ctrl-C stops everything")
        manager.loop()
        return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())

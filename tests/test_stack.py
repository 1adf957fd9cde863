"""`make run`'s launcher, for real: embedded Postgres + Redis, migrate, seed, uvicorn + worker + beat; the demo
admin signs in; Ctrl-C leaves no process behind; a second start finds the same data."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from tests.conftest import ROOT, _free_port, wait_until

pytestmark = pytest.mark.integration


def _clean_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DATABASE_URL", "REDIS_URL"))}
    env.pop("CONTINUUM_ENV", None)
    env.update(CONTINUUM_VAR_DIR=str(var_dir), PORT=str(port), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    return env


@pytest.fixture
def var_dir() -> Iterator[Path]:
    # Under the project, not /tmp/pytest-of-root: the `pgserver` system user must be able to reach it.
    path = ROOT / "var" / "test" / f"stack-{os.getpid()}-{_free_port()}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_run_serves_signs_in_and_stops_cleanly(var_dir: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _clean_env(var_dir, port)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.stack", "run"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        wait_until(
            lambda: launcher.poll() is not None or _healthy(f"{base}/healthz"),
            timeout=180,
            what="/healthz to answer 200",
        )
        assert launcher.poll() is None, "the launcher exited early"
        health = requests.get(f"{base}/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["checks"]["celery"]["workers"]

        session = requests.Session()
        login_page = session.get(f"{base}/auth/login/", timeout=5)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token is not None
        home = session.post(
            f"{base}/auth/login/",
            data={
                "username": "admin@demo.continuum.test",
                "password": "continuum-demo",
                "csrfmiddlewaretoken": token.group(1),
            },
            headers={"Referer": f"{base}/auth/login/"},
            timeout=10,
        )
        assert home.status_code == 200 and "Acme Plumbing (demo)" in home.text
        assert session.get(f"{base}/api/v1/me", timeout=5).json()["email"] == "admin@demo.continuum.test"

        pids = {p.pid for p in psutil.Process(launcher.pid).children(recursive=True)}
        postmaster = int((var_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        pids.add(postmaster)
        assert len(pids) >= 6  # redis, uvicorn, worker (+ its pool), beat, postgres

        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = launcher.communicate(timeout=60)
        output.append(out)
        time.sleep(0.2)
        left = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert left == [], f"processes left running after Ctrl-C: {left}"
        assert "Demo account ready" in out and "admin@demo.continuum.test" in out
        first_id = re.search(r"account id (\d+)", out)
        assert first_id is not None

        again = subprocess.run(
            [sys.executable, "-m", "config.stack", "exec", "--", sys.executable, "manage.py", "seed_demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert f"account id {first_id.group(1)}" in again.stdout  # same data, nothing created twice
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        if output:
            print(output[0][-3000:])

"""The deployment files agree with the code: the image carries every app, the compose file is valid, and the
one-machine production layout reads its commands and environment from that compose file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from config.prodlocal import ROOT, _rebind, compose_services, interpolate


def _our_apps() -> list[str]:
    return [app for app in settings.INSTALLED_APPS if "." not in app and (ROOT / app).is_dir()]


def test_the_image_and_the_package_carry_every_app() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    include = re.search(r"include = \[([^\]]*)\]", (ROOT / "pyproject.toml").read_text())
    assert include is not None
    for app in ["config", *_our_apps()]:
        assert f"COPY {app} ./{app}" in dockerfile, f"Dockerfile does not copy {app}/"
        assert f'"{app}*"' in include.group(1), f"pyproject.toml's packages leave out {app}"


def test_compose_values_are_filled_as_compose_fills_them() -> None:
    assert interpolate("${A:-x}", {}) == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("a${A}b", {"A": "1"}) == "a1b"
    with pytest.raises(SystemExit, match="set it"):
        interpolate("${A:?set it}", {})
    services = compose_services({"SECRET_KEY": "k" * 50, "ENCRYPTION_KEYS": "e"})
    assert {"web", "ws", "worker-inbound", "worker-outbound", "worker-ai", "beat", "migrate", "proxy"} <= set(services)
    assert services["web"]["environment"]["CONTINUUM_ENV"] == "production"  # type: ignore[index]
    assert _rebind(["gunicorn", "--bind", "0.0.0.0:8000"], 5) == ["gunicorn", "--bind", "127.0.0.1:5"]
    assert _rebind(["uvicorn", "--host", "0.0.0.0", "--port", "8001"], 6) == [  # noqa: S104
        "uvicorn", "--host", "127.0.0.1", "--port", "6"
    ]  # fmt: skip


def _compose() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.mark.skipif(
    _compose() is None and not os.environ.get("CONTINUUM_REQUIRE_COMPOSE"),
    reason="neither docker compose nor docker-compose is installed (.ci/run installs Debian's docker-compose)",
)
def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    command = _compose()
    assert command is not None, "CONTINUUM_REQUIRE_COMPOSE is set but no docker compose is installed"
    env = {**os.environ, "SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": "e" * 44}
    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    missing = subprocess.run(  # without the secrets it refuses, naming them
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        cwd=tmp_path, env={k: v for k, v in env.items() if k not in ("SECRET_KEY", "ENCRYPTION_KEYS")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "SECRET_KEY" in missing.stderr

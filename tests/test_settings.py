"""Settings come from the environment and refuse to run in production without a real secret key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

REAL_KEY = "q7-Hx2pLw9vZ0sT4kB8nYc1mR6dFj3aE5uGi0oPl_WzXyVbN4tQs"
FERNET_KEY = "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMhISE="


def _import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CONTINUUM_ENV", "ENCRYPTION_KEYS"}}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.DEBUG, s.PRODUCTION)"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_without_secret_key_refuses_to_start() -> None:
    result = _import_settings(CONTINUUM_ENV="production")
    assert result.returncode != 0
    assert "Set SECRET_KEY to a random value of at least 50 characters in production." in result.stderr
    weak = _import_settings(CONTINUUM_ENV="production", SECRET_KEY="x" * 60, ENCRYPTION_KEYS=FERNET_KEY)
    assert weak.returncode != 0 and "at least 50 characters" in weak.stderr


def test_production_without_encryption_keys_refuses_to_start() -> None:
    result = _import_settings(CONTINUUM_ENV="production", SECRET_KEY=REAL_KEY)
    assert result.returncode != 0
    assert "Set ENCRYPTION_KEYS in production" in result.stderr


def test_production_with_a_real_key_runs_without_debug() -> None:
    result = _import_settings(CONTINUUM_ENV="production", SECRET_KEY=REAL_KEY, ENCRYPTION_KEYS=FERNET_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True"


def test_check_deploy_is_clean_in_production() -> None:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CONTINUUM_ENV", "ENCRYPTION_KEYS"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **clean,
            "CONTINUUM_ENV": "production",
            "SECRET_KEY": REAL_KEY,
            "ENCRYPTION_KEYS": FERNET_KEY,
            "ALLOWED_HOSTS": "inbox.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_environment_is_named() -> None:
    result = _import_settings(CONTINUUM_ENV="staging")
    assert "CONTINUUM_ENV must be development, test or production, not 'staging'" in result.stderr


def test_every_task_can_be_scheduled_with_its_time_limits() -> None:
    """Celery refuses to send a task whose soft limit exceeds its hard limit (beat logs it and never runs it)."""
    from config.celery_app import app

    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if name.split(".")[0] in {"channels_app", "ai_agent", "inbox", "memory"}]
    assert ours
    for task in ours:
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft <= hard, f"{task.name}: soft limit {soft} s > hard limit {hard} s"
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


@pytest.mark.django_db
def test_every_model_change_has_its_migration() -> None:
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # exits non-zero when one is missing


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"PORT": "8123"}, "http://127.0.0.1:8123"),  # `PORT=8123 make run`: webhook URLs and the snippet follow
        ({"PORT": "8123", "PUBLIC_BASE_URL": "https://help.example.com/"}, "https://help.example.com"),
        ({}, "http://127.0.0.1:8000"),
    ],
)
def test_the_public_address_follows_the_port_unless_set(env: dict[str, str], url: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in {"PORT", "PUBLIC_BASE_URL", "CONTINUUM_ENV"}}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.PUBLIC_BASE_URL)"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == url

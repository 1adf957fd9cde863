"""GET /healthz against the real database, Redis and a real Celery worker process."""

from __future__ import annotations

import subprocess

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.integration


@pytest.mark.django_db(transaction=True)
def test_all_ok_with_a_live_worker(celery_worker_process: subprocess.Popen[bytes]) -> None:
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "celery"}
    assert all(check["ok"] for check in body["checks"].values())
    assert any(name.startswith("test-") for name in body["checks"]["celery"]["workers"])
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
@override_settings(HEALTH_CELERY_TIMEOUT=0.3)
def test_503_and_names_the_missing_worker() -> None:
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["celery"] == {
        "ok": False,
        "error": "RuntimeError: no Celery worker answered a ping; start one with `celery -A config worker`",
        "latency_ms": body["checks"]["celery"]["latency_ms"],
    }


@pytest.mark.django_db
def test_503_when_redis_is_down() -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    with override_settings(REDIS_URL=dead):
        body = Client().get("/healthz").json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]
    assert body["checks"]["celery"]["error"] == "the broker (Redis) is unreachable"
    assert body["checks"]["database"]["ok"] is True

"""Database trouble gets the right answer: a deadlock's victim runs again (it was rolled back), a database that
is away answers 503 with Retry-After, a busy one 503 "retry", and anything else is a bug reported as 500."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import OperationalError
from django.test import Client

import channels_app.webhooks
from accounts.locks import retry_transaction
from config.availability import kind_of


def _django_error(pg_error: type[psycopg.Error] | None, text: str) -> OperationalError:
    try:
        if pg_error is not None:
            raise pg_error(text)
        raise OperationalError(text)
    except psycopg.Error as exc:
        try:
            raise OperationalError(text) from exc
        except OperationalError as wrapped:
            return wrapped
    except OperationalError as plain:
        return plain


def test_a_deadlock_victim_runs_again() -> None:
    calls: list[int] = []

    @retry_transaction
    def merge() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _django_error(psycopg.errors.DeadlockDetected, "deadlock detected")
        return "merged"

    assert merge() == "merged" and len(calls) == 3


def test_other_database_errors_are_not_retried() -> None:
    calls: list[int] = []

    @retry_transaction
    def broken() -> None:
        calls.append(1)
        raise _django_error(psycopg.errors.QueryCanceled, "canceling statement due to statement timeout")

    with pytest.raises(OperationalError):
        broken()
    assert len(calls) == 1


def test_errors_are_told_apart() -> None:
    assert kind_of(_django_error(None, "could not connect to server")) == "unavailable"
    assert kind_of(_django_error(psycopg.errors.AdminShutdown, "terminating connection")) == "unavailable"
    assert kind_of(_django_error(psycopg.errors.DeadlockDetected, "deadlock detected")) == "busy"
    assert kind_of(_django_error(psycopg.errors.SerializationFailure, "could not serialize")) == "busy"
    assert kind_of(_django_error(psycopg.errors.QueryCanceled, "statement timeout")) is None
    assert kind_of(ValueError("not a database error")) is None


@pytest.mark.django_db
def test_a_busy_database_answers_503_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(public_id: str) -> Any:
        raise _django_error(psycopg.errors.DeadlockDetected, "deadlock detected")

    monkeypatch.setattr(channels_app.webhooks, "_twilio_endpoint", busy)
    response = Client().post("/webhooks/twilio/00000000-0000-0000-0000-000000000001/messaging", {"Body": "hi"})
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "database_busy"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_a_bug_on_a_machine_route_is_json_in_every_mode(
    monkeypatch: pytest.MonkeyPatch, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug

    def bug(public_id: str) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(channels_app.webhooks, "_twilio_endpoint", bug)
    client = Client(raise_request_exception=False)
    response = client.post("/webhooks/twilio/00000000-0000-0000-0000-000000000001/messaging", {"Body": "hi"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "status": 500,
            "code": "server_error",
            "message": "Something went wrong on our side; it has been logged.",
        }
    }
    assert "a bug" not in response.content.decode()  # no traceback or detail to the client

"""A worker keeps its database connection across tasks (a new PostgreSQL connection per task was the largest CPU
cost of a short task under load) and still drops one that is broken or too old, as Django does per request."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery_app import _database_hygiene, app

pytestmark = pytest.mark.django_db(transaction=True)

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def run_a_task(fixup: DjangoWorkerFixup) -> None:
    """What a worker process does around each task: the fixup's handlers and ours, before and after."""
    fixup.on_task_prerun(sender=TASK)
    _database_hygiene(task=TASK, sender=TASK)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    fixup.on_task_postrun(sender=TASK)
    _database_hygiene(task=TASK, sender=TASK)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_tasks_share_one_connection_until_it_is_too_old() -> None:
    fixup = DjangoWorkerFixup(app)
    first = backend_pid()
    for _ in range(5):
        run_a_task(fixup)
    assert backend_pid() == first  # five tasks, one server process
    connection.close_at = 0  # older than CONN_MAX_AGE
    run_a_task(fixup)
    assert backend_pid() != first


def test_a_broken_connection_is_not_handed_to_the_next_task() -> None:
    fixup = DjangoWorkerFixup(app)
    first = backend_pid()
    connection.errors_occurred = True
    connection.connection.close()  # the server went away under it
    run_a_task(fixup)
    assert backend_pid() != first


def test_an_eager_task_leaves_the_callers_connection_alone() -> None:
    first = backend_pid()
    connection.close_at = 0
    _database_hygiene(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert connection.connection is not None and backend_pid() == first

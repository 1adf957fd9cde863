"""The database side of the tenant wall: work that serves one account (an API request, a console page, a
websocket's reads, a task of one account) runs its queries as the role `continuum_app` with
`continuum.account_id` set, so PostgreSQL's row-level security policies (web migrations 0001 and 0002) return
and accept only that account's rows — even from a query that forgot its account filter. A person's own
memberships (and the names of their accounts) stay visible through `continuum.user_id`, for the account
switcher. The connection goes back to the connecting role when the work ends."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, connections

APP_ROLE = "continuum_app"
F = TypeVar("F", bound=Callable[..., Any])


def tenant_enter(account_id: int, user_id: int | None = None) -> None:
    if not settings.ROW_LEVEL_SECURITY:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('role', %s, false), set_config('continuum.account_id', %s, false), "
            "set_config('continuum.user_id', %s, false)",
            [APP_ROLE, str(int(account_id)), "" if user_id is None else str(int(user_id))],
        )
    connection.continuum_tenant = True  # type: ignore[attr-defined]


def _reset(conn: Any) -> None:
    if not getattr(conn, "continuum_tenant", False):
        return
    conn.continuum_tenant = False
    if conn.connection is None:
        return
    if conn.in_atomic_block and conn.needs_rollback:
        # A broken transaction: the SET may predate it, so the rollback might not undo it. Never hand this
        # connection to other work with the tenant role still on it.
        conn.close()
        return
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('role', 'none', false), set_config('continuum.account_id', '', false), "
            "set_config('continuum.user_id', '', false)"
        )


def tenant_leave(**kwargs: Any) -> None:
    """Back to the connecting role (request_finished, a task's end): the connection may serve another account."""
    for conn in connections.all(initialized_only=True):
        _reset(conn)


@contextlib.contextmanager
def tenant_scope(account_id: int, user_id: int | None = None) -> Iterator[None]:
    """Queries inside see and write only this account's rows (under row-level security)."""
    nested = getattr(connection, "continuum_tenant", False)
    if nested:  # already inside one account's work (a task run eagerly inside a request, say): keep it
        yield
        return
    tenant_enter(account_id, user_id)
    try:
        yield
    finally:
        _reset(connection)


@contextlib.contextmanager
def index_lookup() -> Iterator[None]:
    """For a lookup PostgreSQL cannot plan well under the policy: its text-search functions are not leakproof, so
    under row-level security a full-text index is never used (a message search read every message of the
    account: 1.8 s at a million, bench/growth_bench.py). Inside, queries run as the connecting role; the lookup
    must write its account filter out and return only ids, whose rows are then read under the policy again."""
    if not settings.ROW_LEVEL_SECURITY or not getattr(connection, "continuum_tenant", False):
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', 'none', false)")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('role', %s, false)", [APP_ROLE])
        except Exception:
            # a failed transaction: never hand the connection on unbound (_reset closes it at the work's end)
            connection.needs_rollback = True
            raise


def tenant_task(func: F) -> F:
    """For a task whose first argument after `self` (if bound) is `account_id`: its queries run in that account."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account_id = kwargs.get("account_id")
        if account_id is None:
            account_id = next(a for a in args if isinstance(a, int))
        with tenant_scope(account_id):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


DB_RETRY_LIMIT = 8


def db_retry(func: F) -> F:
    """For a bound task: a database that is down or restarting, anywhere in the task (its very first query
    included), re-queues the task with backoff instead of losing it. Under `@shared_task(bind=True)`."""
    from django.db import InterfaceError, OperationalError

    @functools.wraps(func)
    def wrapper(task: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(task, *args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            for conn in connections.all(initialized_only=True):
                if not conn.in_atomic_block:  # a dead connection is replaced on the next try
                    conn.close_if_unusable_or_obsolete()
            retries = task.request.retries
            if retries >= max(task.max_retries or 0, DB_RETRY_LIMIT):
                raise
            raise task.retry(exc=exc, countdown=min(60, 2 * 2**retries), max_retries=DB_RETRY_LIMIT) from exc

    return wrapper  # type: ignore[return-value]

"""PostgreSQL advisory locks: serialize work on one key (an address, a conversation, a reply) across
processes without a lock table. Released automatically at commit or rollback (or, for the session lock, at the
end of its block)."""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.db import OperationalError, connection

F = TypeVar("F", bound=Callable[..., Any])


def advisory_xact_lock(key: str) -> None:
    """Wait until no other transaction holds `key`, then hold it until this transaction ends."""
    if not connection.in_atomic_block:
        raise RuntimeError("advisory_xact_lock needs a transaction: call it inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


@contextlib.contextmanager
def advisory_session_try_lock(key: str) -> Iterator[bool]:
    """Try to hold `key` for the block, across transactions (a session lock: freed when the block ends, or when
    the connection closes — a killed worker's included). Yields whether it was got; never waits."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure: nothing was written
TRANSACTION_TRIES = 4


def is_transient(exc: BaseException) -> bool:
    """A deadlock or serialization failure: PostgreSQL rolled the transaction back; running it again is safe."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES


def retry_transaction(func: F) -> F:
    """Run a transactional service again when PostgreSQL chose it as a deadlock's victim (two writers taking the
    same rows in another order: a merge while a worker files a message of the same customer). Only outermost:
    inside a caller's transaction the error goes up to whoever owns the transaction."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(TRANSACTION_TRIES):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if connection.in_atomic_block or not is_transient(exc) or attempt == TRANSACTION_TRIES - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]

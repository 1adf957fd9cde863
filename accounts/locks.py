"""Transaction-scoped PostgreSQL advisory locks: serialize work on one key (an address, a conversation) across
processes without a lock table. Released automatically at commit or rollback."""

from __future__ import annotations

from django.db import connection


def advisory_xact_lock(key: str) -> None:
    """Wait until no other transaction holds `key`, then hold it until this transaction ends."""
    if not connection.in_atomic_block:
        raise RuntimeError("advisory_xact_lock needs a transaction: call it inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])

"""The database side of the tenant wall: a request that serves one account runs its queries as the role
`continuum_app` with `continuum.account_id` set, so PostgreSQL's row-level security policies (web migration
0001) return and accept only that account's rows — even from a query that forgot its account filter. The
connection goes back to the owner role when the request ends."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, connections

APP_ROLE = "continuum_app"


def tenant_enter(account_id: int) -> None:
    if not settings.ROW_LEVEL_SECURITY:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('role', %s, false), set_config('continuum.account_id', %s, false)",
            [APP_ROLE, str(int(account_id))],
        )
    connection.continuum_tenant = True  # type: ignore[attr-defined]


def tenant_leave(**kwargs: Any) -> None:
    """Back to the connecting role (request_finished): the connection may serve another account next."""
    for conn in connections.all(initialized_only=True):
        if getattr(conn, "continuum_tenant", False):
            conn.continuum_tenant = False  # type: ignore[attr-defined]
            if conn.connection is None or conn.needs_rollback:
                continue  # closed, or a broken transaction that will be rolled back (and the SET with it)
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('role', 'none', false), set_config('continuum.account_id', '', false)"
                )

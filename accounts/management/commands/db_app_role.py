"""Create (or update) the login role the running application connects as: not a superuser, not the owner of the
tables, a member of `continuum_system` (all tenants, for system work) and through it of `continuum_app` (one
tenant, under row-level security). Run it with the owner's DATABASE_URL after `migrate`; then give web, sockets,
worker and beat a DATABASE_URL with this role (docker-compose.yml does both)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from psycopg import sql


class Command(BaseCommand):
    help = "Create or update the application's non-superuser login role (password from $APP_DB_PASSWORD)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default="continuum_web")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        password = os.environ.get("APP_DB_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("Set APP_DB_PASSWORD (12 characters or more) for the application's database role.")
        name, secret = sql.Identifier(role), sql.Literal(password)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(
                sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}")
                .format(name, secret)
                .as_string(cursor.connection)
            )
            cursor.execute(sql.SQL("GRANT continuum_system TO {}").format(name).as_string(cursor.connection))
        done = "created" if verb == "CREATE" else "updated"
        self.stdout.write(f"{done} role {role}: a member of continuum_system and continuum_app")

"""Rebuild the reports' daily rollup for every account (or one), from its first conversation (or --days back)."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from accounts.models import Account
from reports.rollup import account_first_day, rebuild_range


class Command(BaseCommand):
    help = "Rebuild the reports' daily rollup (safe to run any time: each day is replaced whole)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", type=int, help="one account's id (default: every account)")
        parser.add_argument("--days", type=int, help="only the last N days (default: since the first conversation)")

    def handle(self, *args: Any, account: int | None, days: int | None, **options: Any) -> None:
        today = timezone.now().astimezone(UTC).date()
        accounts = Account.objects.filter(pk=account) if account else Account.objects.all()
        for one in accounts:
            first = today - timedelta(days=days - 1) if days else account_first_day(one)
            if first is None:
                continue
            rows = rebuild_range(one, first, today)
            self.stdout.write(f"{one.name}: {first}..{today}, {rows} rollup rows")

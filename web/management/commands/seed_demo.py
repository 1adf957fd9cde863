"""Create (or refresh) the demo account and its people. Safe to run any number of times."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
from accounts.services import account_create
from ai_agent.demo import seed_demo_agent
from channels_app.demo import seed_demo_widget
from reports.rollup import account_first_day, rebuild_range
from web.demo import seed_demo_inbox, seed_demo_team_tools

DEMO_ACCOUNT = "Acme Plumbing (demo)"
DEMO_PASSWORD = "continuum-demo"  # noqa: S105 - the published demo password, local use only
DEMO_PEOPLE = [
    ("admin@demo.continuum.test", "Alex Admin", Role.ADMIN),
    ("dana@demo.continuum.test", "Dana Agent", Role.AGENT),
    ("sam@demo.continuum.test", "Sam Agent", Role.AGENT),
]


class Command(BaseCommand):
    help = "Create the demo account with an admin and two agents (idempotent) and print their logins."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if getattr(settings, "PRODUCTION", False):
            self.stderr.write("seed_demo refuses to run in production (CONTINUUM_ENV=production).")
            raise SystemExit(1)
        users = []
        for email, name, role in DEMO_PEOPLE:
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                user = User.objects.create_user(email=email, password=DEMO_PASSWORD, name=name)
            users.append((user, role))
        admin = users[0][0]
        account = Account.objects.filter(name=DEMO_ACCOUNT).order_by("id").first()
        if account is None:
            account = account_create(
                name=DEMO_ACCOUNT, owner=admin, default_region="US", timezone_name="America/Chicago"
            )
        for user, role in users:
            Membership.objects.get_or_create(account=account, user=user, defaults={"role": role})
        seed_demo_inbox(account=account, admin=admin, agents=[u for u, _ in users[1:]])
        seed_demo_agent(account=account)
        widget = seed_demo_widget(account=account)
        seed_demo_team_tools(account=account)
        # the reports read a daily rollup: build the demo's whole history now (beat keeps today current)
        first = account_first_day(account)
        if first is not None:
            rebuild_range(account, first, timezone.now().astimezone(UTC).date())

        self.stdout.write(self.style.SUCCESS(f"Demo account ready: {account.name} (account id {account.pk})"))
        self.stdout.write(f"  Sign in at {settings.PUBLIC_BASE_URL}/auth/login/ with password {DEMO_PASSWORD!r}:")
        for user, role in users:
            self.stdout.write(f"    {role:<6} {user.email}")
        if widget is not None:
            self.stdout.write(f"  Try the webchat widget at {settings.PUBLIC_BASE_URL}/static/widget/demo.html")

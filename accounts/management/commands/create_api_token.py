"""Print a new API token for a user, for scripts and operators."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.selectors import user_membership_list
from accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for EMAIL in one of their accounts and print it (it is not stored in plain text)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--account", type=int, help="account id; needed when the user is in several")
        parser.add_argument("--name", default="command line", help="a label to recognise the token later")

    def handle(self, *args: Any, email: str, account: int | None, name: str, **options: Any) -> None:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}.")
        memberships = list(user_membership_list(user=user))
        if account is not None:
            memberships = [m for m in memberships if m.account_id == account]
            if not memberships:
                raise CommandError(f"{email} is not a member of account {account}.")
        if not memberships:
            raise CommandError(f"{email} is not a member of any account; add them to one first.")
        if len(memberships) > 1:
            choices = ", ".join(f"{m.account_id} ({m.account.name})" for m in memberships)
            raise CommandError(f"{email} is in several accounts; choose one with --account: {choices}")
        token, plaintext = api_token_create(account=memberships[0].account, user=user, name=name)
        self.stderr.write(f"Token {token.prefix}… for {email} in account {token.account_id}; it is shown once:")
        self.stdout.write(plaintext)

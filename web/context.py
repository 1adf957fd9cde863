"""Who is looking at the console, and in which account: every console page goes through `console_page`.

The account comes from the URL; a person who is not a member gets 404, the same answer as for an account that
does not exist (as in the API)."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import Account, Membership, User
from accounts.selectors import membership_for_user, user_membership_list
from accounts.tenant_db import tenant_enter
from inbox.models import Inbox
from inbox.selectors import UNREAD_CAP, unread_counts, visible_inboxes


@dataclass
class Console:
    account: Account
    membership: Membership
    user: User
    _inboxes: list[Inbox] | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.membership.is_admin

    @property
    def inboxes(self) -> list[Inbox]:
        """Inboxes this person may see, by name."""
        if self._inboxes is None:
            self._inboxes = list(
                visible_inboxes(account=self.account, membership=self.membership).order_by("name", "id")
            )
        return self._inboxes

    def inbox(self, inbox_id: Any) -> Inbox:
        """A visible inbox by id, or 404."""
        try:
            wanted = int(inbox_id)
        except (TypeError, ValueError):
            raise Http404("No such inbox") from None
        for inbox in self.inboxes:
            if inbox.pk == wanted:
                return inbox
        raise Http404("No such inbox")


class ConsoleRequest(HttpRequest):
    console: Console


def console_page(*, admin: bool = False) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorate a view taking (request, account_id, ...): signs in, resolves the membership, 404 for outsiders,
    403 for agents on admin pages."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, account_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            user: User = request.user  # type: ignore[assignment]
            membership = membership_for_user(account_id=account_id, user=user)
            if membership is None:
                raise Http404("No such account")
            if admin and not membership.is_admin:
                raise PermissionDenied("Only admins of this account can change its settings.")
            request.console = Console(account=membership.account, membership=membership, user=user)  # type: ignore[attr-defined]
            # From here on PostgreSQL shows this account's rows only (and this person's own memberships). The
            # scope stays until the response is rendered (request_finished), for templates that query lazily.
            tenant_enter(membership.account_id, user.pk)
            # Every time on the page in the person's time zone (their preference, else the account's).
            with timezone.override(_zone(membership.time_zone or membership.account.timezone)):
                return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _count_label(count: int) -> str:
    """One inbox's badge: '' for none, '7', or '99+' once the count reaches the cap (counting stops there)."""
    if count >= UNREAD_CAP:
        return f"{UNREAD_CAP - 1}+"
    return str(count) if count else ""


def console_context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the account switcher and the inbox navigation with unread counts."""
    console: Console | None = getattr(request, "console", None)
    if console is None:
        return {}

    @functools.cache
    def unread() -> dict[int, int]:  # computed only if the page shows the navigation (partials do not)
        return unread_counts(
            account=console.account, membership=console.membership, inbox_ids=[i.pk for i in console.inboxes]
        )

    def total() -> str:
        counts = unread()
        total = sum(counts.values())
        if any(n >= UNREAD_CAP for n in counts.values()):
            return f"{total}+"  # at least this many
        return str(total) if total else ""

    return {
        "console": console,
        "account": console.account,
        "nav_inboxes": lambda: [(inbox, _count_label(unread().get(inbox.pk, 0))) for inbox in console.inboxes],
        "unread_total": total,
        "switch_memberships": lambda: list(user_membership_list(user=console.user)),
    }

"""Reading a report from a request's parameters (the API, its CSV and the console page share this): the range
(default the last 30 days), filters, and what an agent may see (their own inboxes)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, timedelta
from typing import Any

from django.utils import timezone

from accounts.errors import ServiceError
from accounts.models import Account, Membership
from accounts.text import spreadsheet_cell
from inbox.models import Channel, Inbox, InboxMember

from .rollup import GROUPS, Filters

MAX_DAYS = 366


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ServiceError(f"{name} is a date written YYYY-MM-DD.", field=name) from None


def _id(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise ServiceError(f"{name} is an id (a number).", field=name)
    return int(raw)


def filters_from(params: Any, account: Account, membership: Membership) -> Filters:
    today = timezone.now().astimezone(UTC).date()
    last = _day(params.get("to"), "to") or today
    first = _day(params.get("from"), "from") or last - timedelta(days=29)
    if first > last:
        raise ServiceError("from is after to.", field="from")
    if (last - first).days >= MAX_DAYS:
        raise ServiceError(f"A report covers at most {MAX_DAYS} days.", field="from")
    channel = params.get("channel") or ""
    if channel and channel not in Channel.values:
        raise ServiceError(f"channel is one of: {', '.join(Channel.values)}.", field="channel")
    inbox_ids = None
    if not membership.is_admin:
        inbox_ids = list(
            InboxMember.objects.filter(account=account, user_id=membership.user_id).values_list("inbox_id", flat=True)
        )
    return Filters(
        first=first,
        last=last,
        inbox_ids=inbox_ids,
        inbox=_id(params.get("inbox"), "inbox"),
        agent=_id(params.get("agent"), "agent"),
        channel=channel,
        label=_id(params.get("label"), "label"),
    )


def group_from(params: Any) -> str:
    group = params.get("group") or "day"
    if group not in GROUPS:
        raise ServiceError(f"group is one of: {', '.join(GROUPS)}.", field="group")
    return group


COLUMNS = [
    "key", "opened", "opened_by_ai", "resolved", "resolved_by_ai", "ai_handled_share", "handoffs", "handoff_rate",
    "first_responses", "first_response_avg_seconds", "resolution_avg_seconds", "sentiment_avg", "sentiment_count",
    "csat_avg", "csat_count",
]  # fmt: skip


def as_csv(rows: list[dict[str, Any]], group: str, names: dict[Any, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([group if c == "key" else c for c in COLUMNS])
    for row in rows:
        key = row["key"]
        shown = key.isoformat() if isinstance(key, date) else names.get(key, key if key not in (None, "") else "none")
        writer.writerow([spreadsheet_cell(shown), *[row.get(c) if row.get(c) is not None else "" for c in COLUMNS[1:]]])
    return out.getvalue()


def key_names(account: Account, group: str) -> dict[Any, str]:
    from accounts.models import User
    from inbox.models import Label

    if group == "inbox":
        return dict(Inbox.objects.filter(account=account).values_list("pk", "name"))
    if group == "agent":
        return {u.pk: u.display_name for u in User.objects.filter(memberships__account=account)}
    if group == "label":
        return dict(Label.objects.filter(account=account).values_list("pk", "name"))
    if group == "channel":
        return dict(Channel.choices)
    return {}

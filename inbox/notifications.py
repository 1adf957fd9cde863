"""Notifications to one person: mentions in private notes, assignments, AI handoffs, snoozes that ended and
escalations. Each is a row in that person's notification centre (unread until opened), pushed after commit to
their open consoles (which show it, and as a browser notification when the tab is hidden and they allow it), and
mailed in an hourly digest while it stays unread. A person turns kinds off in their preferences."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
from accounts.realtime import send_group, user_group

from .models import Conversation, Notification, NotificationKind

logger = logging.getLogger(__name__)

DIGEST_AFTER = timedelta(minutes=15)  # unread this long: worth a mail
DIGEST_MAX_ITEMS = 50


def notify(
    *,
    account: Account,
    user_ids: Iterable[int],
    kind: str,
    text: str,
    conversation: Conversation | None = None,
    exclude: int | None = None,
) -> list[Notification]:
    """Notify these people (members of the account who did not turn this kind off; never `exclude`, the one
    who caused it)."""
    wanted = {int(u) for u in user_ids if u is not None and u != exclude}
    if not wanted:
        return []
    people = Membership.objects.filter(account=account, user_id__in=wanted, user__is_active=True).values_list(
        "user_id", "notify_off"
    )
    created = [
        Notification.objects.create(
            account=account, user_id=user_id, kind=kind, conversation=conversation, text=text[:300]
        )
        for user_id, off in people
        if kind not in (off or [])
    ]
    for notification in created:
        event = {
            "type": "notification",
            "id": notification.pk,
            "kind": kind,
            "text": notification.text,
            "account_id": account.pk,
            "conversation_id": conversation.pk if conversation is not None else None,
            "inbox_id": conversation.inbox_id if conversation is not None else None,
        }
        transaction.on_commit(_pusher(user_group(notification.user_id), event))
    return created


def _pusher(group: str, event: dict[str, object]) -> Callable[[], None]:
    def push() -> None:
        send_group(group, {"type": "realtime.event", "event": event})

    return push


def inbox_people_users(account: Account, inbox_id: int) -> QuerySet[User]:
    """Everyone who sees the inbox (its members and the account's admins), active, in one query: who a note may
    mention, who hears of a handoff nobody took."""
    return (
        User.objects.filter(
            Q(inbox_memberships__account=account, inbox_memberships__inbox_id=inbox_id)
            | Q(memberships__account=account, memberships__role=Role.ADMIN),
            is_active=True,
        )
        .distinct()
        .order_by("name", "email")
    )


def inbox_people(account: Account, inbox_id: int) -> list[int]:
    return list(inbox_people_users(account, inbox_id).values_list("pk", flat=True))


def mentioned(account: Account, inbox_id: int, text: str) -> list[int]:
    """The people of the inbox a note mentions: "@" and their name as shown ("@Dana Whitfield"), their first
    name when no one else in the inbox shares it ("@Dana"), or their email ("@dana@example.com")."""
    if "@" not in text:
        return []
    people = list(inbox_people_users(account, inbox_id))
    firsts: dict[str, int] = {}
    for person in people:
        first = person.display_name.split(" ")[0].casefold()
        firsts[first] = firsts.get(first, 0) + 1
    found = []
    for person in people:
        names = [person.email, person.display_name]
        first = person.display_name.split(" ")[0]
        if firsts[first.casefold()] == 1:
            names.append(first)
        if any(re.search(rf"(?<![\w@])@{re.escape(name)}(?![\w@.-]\w)", text, re.IGNORECASE) for name in names if name):
            found.append(person.pk)
    return found


def notifications_mark_read(
    *, account: Account, user: User, ids: Iterable[int] | None = None, conversation: Conversation | None = None
) -> int:
    """Mark some (by id), those of one conversation, or all of this person's notifications read."""
    rows = Notification.objects.filter(account=account, user=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    if conversation is not None:
        rows = rows.filter(conversation=conversation)
    return rows.update(read_at=timezone.now())


def unread_count(*, account: Account, user: User) -> int:
    return Notification.objects.filter(account=account, user=user, read_at__isnull=True).count()


def digest_send(now: datetime | None = None) -> int:
    """Beat: mail each person who wants it what stayed unread for a while (one mail per person and account,
    each notification mailed once). Returns how many mails went out."""
    now = now or timezone.now()
    pending = (
        Notification.objects.filter(read_at__isnull=True, emailed_at__isnull=True, created_at__lte=now - DIGEST_AFTER)
        .values_list("account_id", "user_id")
        .distinct()
    )
    sent = 0
    for account_id, user_id in pending[:500]:
        membership = Membership.objects.filter(account_id=account_id, user_id=user_id, notify_digest=True).first()
        if membership is None:
            continue
        rows = list(
            Notification.objects.filter(
                account_id=account_id,
                user_id=user_id,
                read_at__isnull=True,
                emailed_at__isnull=True,
                created_at__lte=now - DIGEST_AFTER,
            )
            .select_related("account", "user")
            .order_by("created_at")[:DIGEST_MAX_ITEMS]
        )
        if not rows:
            continue
        account, user = rows[0].account, rows[0].user
        lines = [f"- {n.text}" for n in rows]
        base = settings.PUBLIC_BASE_URL
        body = (
            f"While you were away, in {account.name}:\n\n" + "\n".join(lines) + "\n\n"
            f"Open your notifications: {base}/a/{account.pk}/notifications/\n"
            "Turn this mail off in the same place (Preferences)."
        )
        subject = f"{len(rows)} unread notification{'s' if len(rows) != 1 else ''} in {account.name}"
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
        except Exception:
            logger.exception("digest mail to user %s failed", user.pk)
            continue
        Notification.objects.filter(pk__in=[n.pk for n in rows]).update(emailed_at=now)
        sent += 1
    return sent


__all__ = ["NotificationKind", "digest_send", "inbox_people", "mentioned", "notifications_mark_read", "notify"]

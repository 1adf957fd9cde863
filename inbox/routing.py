"""Who owns a conversation. The AI agent only while it is actually answering (the layer above says so through a
registered hook, so this core never imports it); otherwise a person of the inbox: new work is handed out round
robin among the members who are online (their console is connected and they are not busy), each up to the
inbox's capacity of open conversations. Nobody online: the conversation waits in Unassigned, and the backlog is
handed out when someone comes online."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Account, Availability, Membership, User

from .models import Conversation, HandledBy, Inbox, InboxMember, Status

logger = logging.getLogger(__name__)

Answerer = Callable[[Inbox, datetime], bool]
_ANSWERERS: list[Answerer] = []
BACKLOG_BATCH = 200


def answerer_register(answerer: Answerer) -> None:
    """Registered at start-up by the app whose agent answers customers (its AppConfig.ready)."""
    if answerer not in _ANSWERERS:
        _ANSWERERS.append(answerer)


def ai_answers(inbox: Inbox, at: datetime) -> bool:
    """Whether an AI agent answers this inbox's customers at `at` (enabled, and its mode covers that moment)."""
    return any(answerer(inbox, at) for answerer in _ANSWERERS)


def next_assignee(account: Account, inbox: Inbox) -> User | None:
    """The next online member of the inbox with room for one more open conversation, round robin by user id after
    the last one given work (the inbox row is locked, so two arrivals never pick by the same cursor). With nobody
    online the inbox is not locked at all: arrivals in a quiet inbox (nights, a burst) never wait on each other."""
    online = Membership.objects.filter(account=account, availability=Availability.ONLINE).values("user_id")
    members = InboxMember.objects.filter(account=account, inbox_id=inbox.pk, user__is_active=True, user_id__in=online)
    ids = list(members.order_by("user_id").values_list("user_id", flat=True))
    if not ids:
        return None
    inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
    if ids and inbox.assign_capacity:
        loads = dict(
            Conversation.objects.filter(account=account, inbox=inbox, assignee_id__in=ids, merged_into__isnull=True)
            .exclude(status=Status.RESOLVED)
            .values("assignee_id")
            .annotate(n=Count("id"))
            .values_list("assignee_id", "n")
        )
        ids = [user_id for user_id in ids if loads.get(user_id, 0) < inbox.assign_capacity]
    if not ids:
        return None
    cursor = inbox.assign_cursor_id
    chosen = next((user_id for user_id in ids if cursor is None or user_id > cursor), ids[0])
    Inbox.objects.filter(pk=inbox.pk).update(assign_cursor_id=chosen)
    return User.objects.get(pk=chosen)


def needs_owner(conversation: Conversation, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        conversation.handled_by == HandledBy.HUMAN
        and conversation.assignee_id is None
        and conversation.status != Status.RESOLVED
        and conversation.merged_into_id is None
        and (conversation.snoozed_until is None or conversation.snoozed_until <= now)
    )


@transaction.atomic(savepoint=False)  # nested, no savepoint: an error here ends the whole transaction
def auto_assign(account: Account, conversation: Conversation) -> User | None:
    """Give an unowned conversation a person handles to the next online member (when the inbox hands out work),
    with an activity line and a notification to them. None when nobody is online with room."""
    from .services import conversation_assign

    conversation = Conversation.objects.select_related("inbox").select_for_update(of=("self",)).get(pk=conversation.pk)
    inbox = conversation.inbox
    if not inbox.auto_assign or not needs_owner(conversation):
        return None
    assignee = next_assignee(account, inbox)
    if assignee is None:
        return None
    conversation_assign(account=account, actor=None, conversation=conversation, assignee=assignee)
    return assignee


def hand_out_backlog(account: Account, user_id: int, *, everyone: bool = False) -> int:
    """Someone came online: unowned open conversations of their inboxes (of every inbox with `everyone`), oldest
    first, are handed out round robin among everyone online, up to each person's capacity. Returns how many."""
    inboxes = Inbox.objects.filter(account=account)
    if not everyone:
        inboxes = inboxes.filter(pk__in=InboxMember.objects.filter(account=account, user_id=user_id).values("inbox_id"))
    now = timezone.now()
    waiting = list(
        Conversation.objects.filter(
            account=account,
            inbox_id__in=inboxes.values("pk"),
            inbox__auto_assign=True,
            handled_by=HandledBy.HUMAN,
            assignee__isnull=True,
            merged_into__isnull=True,
        )
        .exclude(status=Status.RESOLVED)
        .exclude(snoozed_until__gt=now)
        .select_related("inbox")
        .order_by("last_activity_at", "id")[:BACKLOG_BATCH]
    )
    given = 0
    full: set[int] = set()
    for conversation in waiting:
        if conversation.inbox_id in full:
            continue
        if auto_assign(account, conversation) is None:
            full.add(conversation.inbox_id)  # nobody online with room in this inbox
        else:
            given += 1
    return given


def unowned_sweep() -> int:
    """Hand out what waits in Unassigned wherever someone is online (oldest first, a batch per account)."""
    online = Membership.objects.filter(availability=Availability.ONLINE).values_list("account_id", "user_id")
    given = 0
    seen: set[int] = set()
    for account_id, user_id in online:
        if account_id in seen:
            continue
        seen.add(account_id)
        account = Account.objects.get(pk=account_id)
        given += hand_out_backlog(account, user_id, everyone=True)
    return given


def on_came_online(sender: object, account_id: int, user_id: int, **kwargs: object) -> None:
    """accounts.presence.came_online: queue the backlog hand-out (a lost task is caught by the beat sweep)."""
    from .tasks import hand_out_backlog_task

    try:
        hand_out_backlog_task.delay(account_id, user_id)
    except Exception:
        logger.exception("could not queue the backlog for user %s", user_id)

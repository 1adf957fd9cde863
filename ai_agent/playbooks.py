"""Playbooks: structured follow-up run by beat. Each step runs once per wait (PlaybookRun is unique on the
moment the wait began), so running them again — or twice at once — does nothing new; a customer's reply starts
a new wait, which pauses whatever was counting."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from accounts.models import Membership, Role
from accounts.services import audit_log_record
from inbox.models import Conversation, HandledBy, Message, NotificationKind, Status
from inbox.notifications import notify
from inbox.services import conversation_note_activity, conversation_set_status, send_message
from memory.models import Handoff

from .models import Playbook, PlaybookAction, PlaybookRun, PlaybookTrigger

logger = logging.getLogger(__name__)
# How far back a trigger looks: older waits are left alone (a new playbook does not wake last year's threads).
LOOKBACK = timedelta(days=7)


def _due(playbook: Playbook, now: datetime) -> list[tuple[Conversation, datetime]]:
    """Conversations of the playbook's inbox whose wait began long enough ago, with that moment (the anchor)."""
    due = now - timedelta(minutes=playbook.after_minutes)
    since = due - LOOKBACK
    scope = Conversation.objects.filter(account_id=playbook.account_id, inbox_id=playbook.inbox_id)
    if playbook.trigger == PlaybookTrigger.WAITING:
        rows = scope.filter(status=Status.WAITING, last_inbound_at__lte=due, last_inbound_at__gt=since)
        return [(c, c.last_inbound_at) for c in rows if c.last_inbound_at is not None]
    if playbook.trigger == PlaybookTrigger.RESOLVED:
        rows = scope.filter(status=Status.RESOLVED, resolved_at__lte=due, resolved_at__gt=since)
        return [(c, c.resolved_at) for c in rows if c.resolved_at is not None]
    if playbook.trigger == PlaybookTrigger.CUSTOMER_UNANSWERED:
        answered = Message.objects.filter(
            conversation_id=OuterRef("pk"),
            direction="out",
            kind="message",
            created_at__gte=OuterRef("last_inbound_at"),
        )
        rows = (
            scope.filter(last_inbound_at__lte=due, last_inbound_at__gt=since, snoozed_until__isnull=True)
            .exclude(status__in=[Status.RESOLVED, Status.ESCALATED])
            .annotate(answered=Exists(answered))
            .filter(answered=False)
        )
        return [(c, c.last_inbound_at) for c in rows if c.last_inbound_at is not None]
    replied = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        sender_type="user",
        kind="message",
        created_at__gt=OuterRef("created_at"),
    )
    handoffs = (
        Handoff.objects.filter(
            account_id=playbook.account_id,
            to_inbox_id=playbook.inbox_id,
            created_at__lte=due,
            created_at__gt=since,
            conversation__handled_by=HandledBy.HUMAN,
        )
        .exclude(conversation__status__in=[Status.RESOLVED, Status.ESCALATED])
        .annotate(replied=Exists(replied))
        .filter(replied=False)
        .select_related("conversation")
    )
    return [(h.conversation, h.created_at) for h in handoffs]


def _act(playbook: Playbook, conversation: Conversation) -> str:
    account = playbook.account
    if playbook.action in (PlaybookAction.REMIND, PlaybookAction.SATISFACTION):
        send_message(
            account=account,
            conversation=conversation,
            body=playbook.message,
            sender_type="system",
            metadata={"playbook": playbook.pk},
        )
        return "sent a reminder" if playbook.action == PlaybookAction.REMIND else "sent a satisfaction check"
    if playbook.action == PlaybookAction.RESOLVE:
        conversation_set_status(account=account, actor=None, conversation=conversation, status=Status.RESOLVED)
        return "resolved the conversation"
    conversation_set_status(account=account, actor=None, conversation=conversation, status=Status.ESCALATED)
    admins = list(Membership.objects.filter(account=account, role=Role.ADMIN).values_list("user__email", flat=True))
    waiting = (
        "the customer's message has no answer"
        if playbook.trigger == PlaybookTrigger.CUSTOMER_UNANSWERED
        else "the handoff has not been picked up"
    )
    subject = f"Conversation #{conversation.number} in {playbook.inbox.name} needs someone"
    body = f"{playbook.name}: {waiting}. Open conversation #{conversation.number}."
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, admins, fail_silently=True))
    admin_ids = Membership.objects.filter(account=account, role=Role.ADMIN).values_list("user_id", flat=True)
    owner = [conversation.assignee_id] if conversation.assignee_id else []
    notify(
        account=account, user_ids=[*admin_ids, *owner], kind=NotificationKind.ESCALATION, conversation=conversation,
        text=f"#{conversation.number} in {playbook.inbox.name}: {waiting} ({playbook.name}).",
    )  # fmt: skip
    return "escalated and notified the admins"


def run_playbooks(*, now: datetime) -> int:
    """Run every due step once. Returns how many steps ran."""
    done = 0
    for playbook in Playbook.objects.filter(enabled=True).select_related("account", "inbox"):
        for conversation, anchor in _due(playbook, now):
            try:
                with transaction.atomic():
                    PlaybookRun.objects.create(
                        account_id=playbook.account_id, playbook=playbook, conversation=conversation, anchor=anchor
                    )
                    what = _act(playbook, conversation)
                    conversation_note_activity(
                        account=playbook.account,
                        conversation=conversation,
                        text=f"Playbook \u201c{playbook.name}\u201d {what}",
                    )
                    audit_log_record(
                        account=playbook.account,
                        actor=None,
                        action="ai.playbook_ran",
                        target=conversation,
                        data={"playbook": playbook.pk, "what": what},
                    )
                done += 1
            except IntegrityError:
                continue  # already done for this wait (another beat tick got there first)
    return done

"""Beat work of the inbox core: wake snoozed conversations when their time comes, and keep presence honest."""

from __future__ import annotations

from celery import shared_task

from accounts.presence import presence_sweep


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def wake_snoozed() -> int:
    """Beat: conversations whose snooze ended come back to the folders (an activity line, a notification to the
    assignee; handed out if nobody owns them)."""
    from .services import snoozes_wake

    return snoozes_wake()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def sweep_presence() -> int:
    """Beat: people whose console sockets all went quiet (a process died without closing them) are offline."""
    return presence_sweep()


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def hand_out_backlog_task(account_id: int, user_id: int) -> int:
    """Someone came online: hand out the unowned conversations of their inboxes."""
    from accounts.models import Account

    from .routing import hand_out_backlog

    account = Account.objects.filter(pk=account_id).first()
    return hand_out_backlog(account, user_id) if account is not None else 0


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def sweep_unowned() -> int:
    """Beat: unowned conversations in inboxes that hand out work, where someone is online with room (the
    came-online task was lost, or capacity freed up as others were resolved)."""
    from .routing import unowned_sweep

    return unowned_sweep()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def mail_digests() -> int:
    """Beat: mail each person what stayed unread (each notification once; kinds and digest per preferences)."""
    from .notifications import digest_send

    return digest_send()

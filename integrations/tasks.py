"""Webhook work for Celery: fan an event out to its subscriptions, send one delivery, and (beat) send what is due."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from accounts.tenant_db import tenant_task

from . import webhooks


@shared_task(acks_late=True)
@tenant_task
def fanout_event(account_id: int, event: str, data: dict[str, Any], event_id: str | None = None) -> int:
    return len(webhooks.fanout(account_id, event, data, event_id))


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def deliver_webhook(delivery_id: int) -> str | None:
    return webhooks.deliver(delivery_id)


@shared_task
def send_due_webhooks() -> int:
    due = webhooks.claim_due()
    for pk in due:
        deliver_webhook.delay(pk)
    return len(due)


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def apply_retention() -> dict[int, int]:
    """Beat, daily: each account's retention (conversations inactive longer than its setting are deleted)."""
    from .privacy import retention_apply_all

    return retention_apply_all()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
@tenant_task
def run_contact_import(account_id: int, import_id: int) -> str:
    from .imports import import_run
    from .models import ContactImport, ImportState

    contact_import = ContactImport.objects.filter(
        account_id=account_id, pk=import_id, state__in=[ImportState.QUEUED, ImportState.RUNNING]
    ).first()
    if contact_import is None:
        return "nothing to do"
    try:
        import_run(contact_import)
    except Exception as exc:
        ContactImport.objects.filter(pk=import_id).update(state=ImportState.FAILED, error=str(exc)[:300])
        raise
    return "done"

"""Beat work of the reports: keep today's and yesterday's rollup current."""

from __future__ import annotations

from celery import shared_task

from .rollup import rebuild_recent


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def refresh_reports() -> int:
    return rebuild_recent()

"""The Celery application: configured from Django settings (CELERY_*), tasks discovered in every app."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("continuum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_hygiene(**kwargs: Any) -> None:
    """What Django does around a request, around each task: a connection that is broken, in a failed state or older
    than CONN_MAX_AGE is closed (a healthy one is kept: CELERY_DB_REUSE_MAX). Not for a task run eagerly inside
    other work, whose connection is that work's."""
    task = kwargs.get("task") or kwargs.get("sender")
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()

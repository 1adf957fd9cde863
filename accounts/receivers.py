"""Model-wide receivers: stored text cleaned of what PostgreSQL refuses, and open console sockets following
their person's access.

Open console sockets follow their person's access: a deactivated user, or one who signed out, has every
socket re-check at once (and the signed-out session's sockets close). Signals, because the Django admin and
the sign-out view change these without our services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.core.signals import request_finished
from django.db import models
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from .models import User
from .realtime import access_changed
from .tenant_db import tenant_leave
from .text import clean_json, clean_text

OUR_APPS = {"accounts", "contacts", "inbox", "memory", "channels_app", "ai_agent", "reports", "integrations", "web"}


@receiver(post_save, sender=User, dispatch_uid="accounts.user_saved_access")
def _user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        access_changed([instance.pk])


@receiver(user_logged_out, dispatch_uid="accounts.user_logged_out_access")
def _logged_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        access_changed([user.pk])


@receiver(pre_save, dispatch_uid="accounts.clean_stored_text")
def _clean_stored_text(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Every text and JSON field of our models, as PostgreSQL will take it (accounts.text); a text longer than
    its column is cut to fit."""
    if sender._meta.app_label not in OUR_APPS:
        return
    only = kwargs.get("update_fields")  # a save of some fields cleans those (not a 5 MB column it does not write)
    for field in sender._meta.concrete_fields:
        if only is not None and field.name not in only and field.attname not in only:
            continue
        value = getattr(instance, field.attname, None)
        if value is None:
            continue
        if isinstance(field, models.JSONField):
            setattr(instance, field.attname, clean_json(value))
        elif isinstance(value, str):
            value = clean_text(value)
            if isinstance(field, models.CharField) and field.max_length and len(value) > field.max_length:
                value = value[: field.max_length]  # a 250-character profile name is kept, cut, not refused
            setattr(instance, field.attname, value)


request_finished.connect(tenant_leave, dispatch_uid="accounts.tenant_leave")

"""Open console sockets follow their person's access: a deactivated user, or one who signed out, has every
socket re-check at once (and the signed-out session's sockets close). Signals, because the Django admin and
the sign-out view change these without our services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import User
from .realtime import access_changed


@receiver(post_save, sender=User, dispatch_uid="accounts.user_saved_access")
def _user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        access_changed([instance.pk])


@receiver(user_logged_out, dispatch_uid="accounts.user_logged_out_access")
def _logged_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        access_changed([user.pk])

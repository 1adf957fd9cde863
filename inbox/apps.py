"""The inbox core: inboxes, members, conversations, messages, realtime events."""

from django.apps import AppConfig


class InboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inbox"

    def ready(self) -> None:
        from accounts.presence import came_online
        from contacts.services import merge_step_register

        from .routing import on_came_online
        from .services import conversations_fold, conversations_unfold

        merge_step_register("conversations", conversations_fold, conversations_unfold)
        came_online.connect(on_came_online, dispatch_uid="inbox.backlog")

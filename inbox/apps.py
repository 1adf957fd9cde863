"""The inbox core: inboxes, members, conversations, messages, realtime events."""

from django.apps import AppConfig


class InboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inbox"

    def ready(self) -> None:
        from contacts.services import merge_step_register

        from .services import conversations_fold, conversations_unfold

        merge_step_register("conversations", conversations_fold, conversations_unfold)

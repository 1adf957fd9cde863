"""The inbox core: inboxes, members, conversations, messages, realtime events."""

from django.apps import AppConfig


class InboxConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inbox"

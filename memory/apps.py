"""Shared Memory: inbox-scoped notes, facts, sentiment readings and handoffs, assembled by recall()."""

from django.apps import AppConfig


class MemoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "memory"

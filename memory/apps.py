"""Shared Memory: inbox-scoped notes, facts, sentiment readings and handoffs, assembled by recall()."""

from django.apps import AppConfig


class MemoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "memory"

    def ready(self) -> None:
        from contacts.services import merge_step_register

        from .services import memory_fold, memory_unfold

        merge_step_register("memory", memory_fold, memory_unfold)

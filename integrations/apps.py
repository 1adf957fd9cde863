"""Integrations: outbound webhooks, so what happens in Continuum reaches the tools a team already uses. It sits
above the inbox and memory (it listens to their events) and below the console."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        from inbox import events

        from .webhooks import on_event

        events.listeners.append(on_event)

"""The AI agent: analysis engines, replies and handoffs, driven by inbox signals."""

from django.apps import AppConfig


class AiAgentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ai_agent"
    verbose_name = "AI agent"

    def ready(self) -> None:
        from inbox.signals import message_received

        from .receivers import on_message_received

        message_received.connect(on_message_received, dispatch_uid="ai_agent.analyze")

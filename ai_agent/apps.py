"""The AI agent: analysis engines, replies and handoffs, driven by inbox signals."""

from django.apps import AppConfig


class AiAgentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ai_agent"
    verbose_name = "AI agent"

    def ready(self) -> None:
        from inbox.routing import answerer_register
        from inbox.signals import message_received

        from .receivers import on_message_received
        from .selectors import agent_answers

        message_received.connect(on_message_received, dispatch_uid="ai_agent.analyze")
        answerer_register(agent_answers)

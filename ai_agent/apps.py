"""The AI agent: analysis engines, replies and handoffs, driven by inbox signals."""

from django.apps import AppConfig


class AiAgentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ai_agent"
    verbose_name = "AI agent"

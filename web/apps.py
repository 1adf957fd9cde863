"""The agent console: HTML pages and the agents' websocket."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "web"

    def ready(self) -> None:
        from inbox import events

        from .live import render_for_browsers

        if render_for_browsers not in events.renderers:
            events.renderers.append(render_for_browsers)

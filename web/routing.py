"""Websocket routes. The console's socket is session-authenticated and accepts only this site's origins; the
webchat visitor's socket is embedded on customers' sites and checks the widget's own allowed origins."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from channels_app.consumers import WebchatConsumer

from .consumers import ConsoleConsumer

websocket_urlpatterns = [
    path(
        "ws/v1/accounts/<int:account_id>/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
    ),
    path("ws/webchat/<str:widget_token>/", WebchatConsumer.as_asgi()),
]

"""Websocket routes."""

from django.urls import path

from .consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/v1/accounts/<int:account_id>/", ConsoleConsumer.as_asgi()),
]

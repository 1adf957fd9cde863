"""Provider webhook routes (outside the API: providers authenticate by signature, not by token)."""

from django.urls import path

from . import webchat, webhooks

urlpatterns = [
    path("webchat/<str:widget_token>/session", webchat.session_view, name="webchat-session"),
    path("webchat/<str:widget_token>/messages", webchat.messages_view, name="webchat-messages"),
    path("webhooks/email/<uuid:public_id>/<str:provider>", webhooks.email_webhook, name="email-webhook"),
    path("webhooks/twilio/<uuid:public_id>/<str:kind>", webhooks.twilio_webhook, name="twilio-webhook"),
]

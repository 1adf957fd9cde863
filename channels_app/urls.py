"""Provider webhook routes (outside the API: providers authenticate by signature, not by token)."""

from django.urls import path

from . import webchat, webchat_files, webhooks

urlpatterns = [
    path("webchat/<str:widget_token>/session", webchat.session_view, name="webchat-session"),
    path("webchat/<str:widget_token>/messages", webchat.messages_view, name="webchat-messages"),
    path("webchat/<str:widget_token>/transcript", webchat_files.transcript_view, name="webchat-transcript"),
    # Files have their own prefix: its request body limit is the file limit (config.limits), not a message's.
    path("webchat-files/<str:widget_token>/upload", webchat_files.upload_view, name="webchat-upload"),
    path("webchat-files/<str:widget_token>/<int:attachment_id>", webchat_files.file_view, name="webchat-file"),
    path("webhooks/email/<uuid:public_id>/<str:provider>", webhooks.email_webhook, name="email-webhook"),
    path("webhooks/twilio/<uuid:public_id>/<str:kind>", webhooks.twilio_webhook, name="twilio-webhook"),
    path("webhooks/meta/<uuid:public_id>", webhooks.meta_webhook, name="meta-webhook"),
]

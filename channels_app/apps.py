"""Channel providers: webhooks, adapters (Twilio, email, webchat), and outbound delivery."""

from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels_app"
    label = "channels_app"
    verbose_name = "Channels"

    def ready(self) -> None:
        from inbox.signals import message_queued

        from .receivers import on_message_queued

        message_queued.connect(on_message_queued, dispatch_uid="channels_app.deliver")

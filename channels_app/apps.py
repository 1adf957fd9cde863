"""Channel providers: webhooks, adapters (Twilio, email, webchat), and outbound delivery."""

from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels_app"
    label = "channels_app"
    verbose_name = "Channels"

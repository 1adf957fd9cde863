"""What an admin pastes where, per endpoint: webhook URLs for the provider's console, or the widget's tag."""

from __future__ import annotations

from django.conf import settings

from .adapters import email, meta, twilio
from .models import ChannelEndpoint, EndpointKind, Provider


def endpoint_urls(endpoint: ChannelEndpoint) -> dict[str, tuple[str, str]]:
    """{name: (what it is, the URL or snippet)}."""
    if endpoint.provider == Provider.META:
        return {"callback": ("Callback URL (Meta app → Webhooks; with your verify token)", meta.webhook_url(endpoint))}
    if endpoint.kind == EndpointKind.EMAIL and endpoint.provider == Provider.IMAP:
        return {}  # read from the mailbox: nothing to paste anywhere
    if endpoint.kind == EndpointKind.EMAIL:
        return {"inbound": (f"Inbound webhook ({endpoint.get_provider_display()})", email.webhook_url(endpoint))}
    if endpoint.kind == EndpointKind.WEBCHAT:
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        tag = f'<script src="{base}/static/widget/continuum.js" data-widget="{endpoint.address}" async></script>'
        return {"script": ("Paste before </body> on your site", tag)}
    if endpoint.kind == EndpointKind.VOICE:
        return {
            "voice": ("A call comes in (Voice webhook)", twilio.webhook_url(endpoint, "voice")),
            "call_status": ("Call status changes", twilio.webhook_url(endpoint, "call")),
        }
    return {
        "messaging": ("A message comes in (Messaging webhook)", twilio.webhook_url(endpoint, "messaging")),
        "status": ("Status callback", twilio.webhook_url(endpoint, "status")),
    }

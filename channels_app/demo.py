"""The demo account's webchat widget (Support), so the widget can be tried at /static/widget/demo.html."""

from __future__ import annotations

from accounts.models import Account
from inbox.models import Inbox

from .credentials import credentials_encrypt
from .models import ChannelEndpoint

DEMO_WIDGET = "wgt_demo_acme"


def seed_demo_widget(*, account: Account) -> ChannelEndpoint | None:
    support = Inbox.objects.filter(account=account, name="Support").first()
    if support is None:
        return None
    endpoint = ChannelEndpoint.objects.filter(kind="webchat", address=DEMO_WIDGET).first()
    if endpoint is None:
        from .webchat import new_identity_secret

        endpoint = ChannelEndpoint.objects.create(
            account=account,
            inbox=support,
            kind="webchat",
            provider="widget",
            address=DEMO_WIDGET,
            credentials_encrypted=credentials_encrypt({"identity_secret": new_identity_secret()}),
            options={"title": "Acme Plumbing", "prechat_fields": ["name"], "color": "#0f766e"},
        )
    return endpoint

"""One mood figure for a conversation wherever it is shown: the inbox list's badge, the memory panel and the
recall API's conversation_sentiment all read the mean of the conversation's latest readings — a single cheerful
last message does not paint a frustrated conversation positive in one place and negative in another."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from memory.services import sentiment_record
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def test_the_list_the_panel_and_the_api_show_one_mood(tenant: Tenant, client: Any) -> None:
    inbox = InboxFactory(account=tenant.account, name="Support")
    scores = [-0.9, -0.9, -0.9, -0.9, 0.6]  # the newest reads positive; the conversation does not
    for n, score in enumerate(scores):
        message = inbound(tenant.account, inbox, "+15550108080", f"message {n}")
        sentiment_record(account=tenant.account, message=message, score=score, engine="test")
    conversation = message.conversation
    account = tenant.account.pk

    api = tenant.client("admin").get(
        f"/api/v1/accounts/{account}/contacts/{conversation.contact_id}/memory/", {"inbox": inbox.pk}
    )
    mood = api.json()["conversation_sentiment"]
    assert (mood["label"], mood["mean"]) == ("negative", -0.6)

    client.force_login(tenant.admin)
    listing = client.get(reverse("web:conversation-list", kwargs={"account_id": account})).content.decode()
    assert 'class="badge mood-negative" title="mood of this conversation (its latest messages): -0.60"' in listing
    assert "mood-positive" not in listing
    panel = client.get(
        reverse("web:memory", kwargs={"account_id": account, "conversation_id": conversation.pk})
    ).content.decode()
    assert 'This conversation: <span class="badge mood-negative">negative</span> -0.60' in panel

"""Each customer message carries its sentiment reading on the message resources (thread, timeline, recall)."""

from __future__ import annotations

import pytest

from memory.services import sentiment_record
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def test_messages_carry_their_reading(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    angry = inbound(tenant.account, inbox, "+15550001234", "This is the third time it broke")
    unread = inbound(tenant.account, inbox, "+15550001234", "hello?")
    sentiment_record(account=tenant.account, message=angry, score=-0.62, engine="local/1", language="en")
    client = tenant.client("admin")
    base = f"/api/v1/accounts/{tenant.account.pk}"
    thread = client.get(f"{base}/conversations/{angry.conversation_id}/messages").json()["results"]
    by_id = {m["id"]: m["sentiment"] for m in thread}
    assert by_id[angry.pk] == {"score": -0.62, "label": "negative", "engine": "local/1", "language": "en"}
    assert by_id[unread.pk] is None
    timeline = client.get(f"{base}/contacts/{angry.contact_id}/timeline").json()["results"]
    assert {m["id"]: m["sentiment"] for m in timeline}[angry.pk]["label"] == "negative"
    memory = client.get(f"{base}/contacts/{angry.contact_id}/memory", {"inbox": inbox.pk}).json()
    assert {m["id"]: m["sentiment"] for m in memory["history"]}[angry.pk]["score"] == -0.62

"""Sentiment trends, and the memory API's facts, definitions and series."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from inbox.services import inbox_member_add
from memory.selectors import Trend
from memory.services import sentiment_record
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound


def readings(*scores: float) -> list[Any]:
    """Readings newest first, a minute apart."""
    now = timezone.now()
    return [
        SimpleNamespace(
            score=s,
            label="positive" if s >= 0.05 else "negative" if s <= -0.05 else "neutral",
            created_at=now - timedelta(minutes=i),
        )
        for i, s in enumerate(scores)
    ]


def test_trend_direction_and_frustration() -> None:
    assert Trend.from_readings([]).direction == "unknown"
    improving = Trend.from_readings(readings(0.6, 0.5, 0.4, 0.6, 0.5, -0.3, -0.2, -0.4, -0.1, -0.3))
    assert improving.direction == "improving" and not improving.urgent and improving.label == "positive"
    falling = Trend.from_readings(readings(-0.3, -0.2, -0.4, -0.1, -0.3, 0.6, 0.5, 0.4, 0.6, 0.5))
    assert falling.direction == "worsening" and falling.urgent  # fell by 0.78: fast
    low = Trend.from_readings(readings(-0.7, -0.6, -0.8))
    assert low.urgent and low.direction == "steady"
    assert Trend.from_readings(readings(0.5, -0.5)).last_change_at is not None


pytestmark_db = pytest.mark.django_db


@pytest.fixture
def billing(tenant: Tenant) -> Any:
    inbox = InboxFactory(account=tenant.account, name="Billing")
    inbox_member_add(account=tenant.account, actor=None, inbox=inbox, user=tenant.agent)
    return inbox


@pytestmark_db
def test_definitions_are_taught_by_admins(tenant: Tenant, billing: Any) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{billing.pk}/fact-definitions"
    body = {"key": "invoice_number", "label": "Invoice number", "pattern": r"INV-\d+", "required_before_handoff": True}
    assert tenant.client("agent").post(url, body, format="json").status_code == 403
    created = tenant.client().post(url, body, format="json")
    assert created.status_code == 201, created.json()
    assert tenant.client().post(url, body, format="json").status_code == 409
    bad = tenant.client().post(url, {"key": "x", "label": "X", "pattern": "(["}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["pattern"][0].startswith("The pattern is not")
    assert [d["key"] for d in tenant.client("agent").get(url).json()] == ["invoice_number"]
    rename = tenant.client().patch(f"{url}/{created.json()['id']}", {"key": "inv"}, format="json")
    assert rename.status_code == 400


@pytestmark_db
def test_facts_add_correct_confirm_reject(tenant: Tenant, billing: Any) -> None:
    from memory.services import fact_definition_create

    fact_definition_create(
        account=tenant.account,
        actor=tenant.admin,
        inbox=billing,
        key="invoice_number",
        label="Invoice number",
        pattern=r"INV-\d+",
    )
    message = inbound(tenant.account, billing, "+15550107070", "about my invoice")
    base = f"/api/v1/accounts/{tenant.account.pk}"
    facts_url = f"{base}/contacts/{message.contact_id}/facts"
    client = tenant.client("agent")
    bad = client.post(facts_url, {"inbox": billing.pk, "key": "invoice_number", "value": "12"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {
        "value": ["'12' does not match the format of Invoice number (pattern INV-\\d+)."]
    }
    first = client.post(
        facts_url,
        {"inbox": billing.pk, "key": "invoice_number", "value": "INV-100", "conversation": message.conversation_id},
        format="json",
    )
    assert first.status_code == 201, first.json()
    assert first.json()["protected"] and first.json()["confirmed_by"]["id"] == tenant.agent.pk
    second = client.post(facts_url, {"inbox": billing.pk, "key": "invoice_number", "value": "INV-101"}, format="json")
    listed = client.get(facts_url, {"inbox": billing.pk}).json()["results"]
    assert [(f["value"], f["status"]) for f in listed] == [("INV-101", "active"), ("INV-100", "superseded")]
    rejected = client.post(f"{base}/facts/{second.json()['id']}/reject").json()
    assert rejected["status"] == "rejected"
    confirm = client.post(f"{base}/facts/{second.json()['id']}/confirm")
    assert confirm.status_code == 409

    email = client.post(facts_url, {"inbox": billing.pk, "key": "email", "value": "Pat@Example.COM"}, format="json")
    assert email.json()["value"] == "Pat@example.com" and email.json()["shared"] is True
    contact = client.get(f"{base}/contacts/{message.contact_id}").json()
    assert {i["value"] for i in contact["identities"]} == {"+15550107070", "Pat@example.com"}


@pytestmark_db
def test_sentiment_series_by_day(tenant: Tenant, billing: Any) -> None:
    now = timezone.now()
    for days_ago, score in ((3, -0.6), (3, -0.2), (1, 0.4)):
        message = inbound(tenant.account, billing, "+15550108080", "x", received_at=now - timedelta(days=days_ago))
        sentiment_record(account=tenant.account, message=message, score=score, engine="test/1")
    url = f"/api/v1/accounts/{tenant.account.pk}/contacts/{message.contact_id}/sentiment"
    body = tenant.client("agent").get(url, {"inbox": billing.pk}).json()
    assert [(d["mean"], d["low"], d["count"]) for d in body["series"]] == [(-0.4, -0.6, 2), (0.4, 0.4, 1)]
    assert body["trend"]["readings"] == 3
    assert tenant.client("agent").get(url, {"inbox": billing.pk, "days": "0"}).status_code == 400

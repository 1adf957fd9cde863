"""No bleed through shared facts: an agent who is a member of Sales only sees a fact Support learned (shared,
so Sales may greet and reach the customer) with "learned in another inbox, by <channel>, <when>" — never the
Support message's words, its link or its conversation id — in the API (/memory, /facts, /facts/<id>) and the
console's memory panel."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import Membership
from inbox.services import inbox_member_add
from memory.models import Fact
from memory.services import fact_record_ai
from tests.conftest import Tenant
from tests.factories import InboxFactory, UserFactory, api_token_for, inbound

pytestmark = pytest.mark.django_db
SECRET_WORDS = "my divorce settlement is why I am behind on payments"


@pytest.fixture
def story(tenant: Tenant) -> dict[str, Any]:
    support = InboxFactory(account=tenant.account, name="Support")
    sales = InboxFactory(account=tenant.account, name="Sales")
    sam = UserFactory(name="Sam Sales")
    sam_membership = Membership.objects.create(account=tenant.account, user=sam, role="agent")
    inbox_member_add(account=tenant.account, actor=None, inbox=sales, user=sam)
    told = inbound(
        tenant.account, support, "+13125550188", f"This is Rosa Diaz, {SECRET_WORDS}. Email rosa@example.org"
    )
    fact = fact_record_ai(
        account=tenant.account,
        contact=told.contact,
        inbox=support,
        key="email",
        value="rosa@example.org",
        confidence=0.9,
        engine="local/1",
        conversation=told.conversation,
        source_message=told,
    )
    assert fact is not None and fact.is_shared
    in_sales = inbound(tenant.account, sales, "+13125550188", "Do you have the blue one in stock?")
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(sam_membership)}")
    return {
        "support": support,
        "sales": sales,
        "sam": sam,
        "api": api,
        "fact": fact,
        "told": told,
        "sales_msg": in_sales,
    }


def _assert_elsewhere(item: dict[str, Any], story: dict[str, Any]) -> None:
    assert item["value"] == "rosa@example.org"
    assert item["source_message"] is None and item["conversation"] is None
    assert item["learned_elsewhere"]["channel"] == "sms" and item["learned_elsewhere"]["at"]
    assert SECRET_WORDS not in str(item)
    assert set(item["learned_elsewhere"]) == {"channel", "at"}  # where and when, nothing that leads back


def test_the_api_shows_where_and_when_but_not_the_source(tenant: Tenant, story: dict[str, Any]) -> None:
    api, sales, contact = story["api"], story["sales"], story["told"].contact
    base = f"/api/v1/accounts/{tenant.account.pk}"
    memory = api.get(f"{base}/contacts/{contact.pk}/memory", {"inbox": sales.pk})
    assert memory.status_code == 200
    [email] = [f for f in memory.json()["facts"] if f["key"] == "email"]
    _assert_elsewhere(email, story)
    assert SECRET_WORDS not in memory.content.decode()

    facts = api.get(f"{base}/contacts/{contact.pk}/facts", {"inbox": sales.pk})
    [email] = [f for f in facts.json()["results"] if f["key"] == "email"]
    _assert_elsewhere(email, story)
    one = api.get(f"{base}/facts/{story['fact'].pk}")
    assert one.status_code == 200
    _assert_elsewhere(one.json(), story)
    assert SECRET_WORDS not in one.content.decode()


def test_the_learning_inbox_keeps_its_source(tenant: Tenant, story: dict[str, Any]) -> None:
    support, contact = story["support"], story["told"].contact
    response = tenant.client("admin").get(
        f"/api/v1/accounts/{tenant.account.pk}/contacts/{contact.pk}/facts", {"inbox": support.pk}
    )
    [email] = [f for f in response.json()["results"] if f["key"] == "email"]
    assert email["source_message"]["message_id"] == story["told"].pk
    assert email["conversation"] == story["told"].conversation_id and email["learned_elsewhere"] is None


def test_the_console_panel_says_learned_in_another_inbox(tenant: Tenant, story: dict[str, Any]) -> None:
    browser = Client()
    browser.force_login(story["sam"])
    page = browser.get(f"/a/{tenant.account.pk}/conversations/{story['sales_msg'].conversation_id}/memory")
    html = page.content.decode()
    assert page.status_code == 200
    assert "rosa@example.org" in html and "learned in another inbox by sms" in html
    assert SECRET_WORDS[:40] not in html
    assert f"conversations/{story['told'].conversation_id}/" not in html
    assert Fact.objects.get(pk=story["fact"].pk).source_message_id == story["told"].pk  # nothing was lost

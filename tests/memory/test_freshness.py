"""Memory freshness: a fact past its definition's shelf life is stale; the AI asks the customer whether it still
holds (not for it from scratch); "yes" renews it, a new value replaces it, and a person's confirmation renews it;
the memory panel shows each fact's age, channel and staleness."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from ai_agent.models import AgentSettings
from memory.models import Fact
from memory.selectors import recall
from memory.services import fact_confirm, fact_definition_create, fact_record_ai
from tests.ai_agent.test_agent import NEVER_OPEN, ai_lines, says
from tests.conftest import Tenant
from tests.factories import InboxFactory, online
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def installs(tenant: Tenant) -> Any:
    inbox = InboxFactory(account=tenant.account, name="Installs", business_hours=NEVER_OPEN)
    fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=inbox, key="service_address",
                           label="Service address", value_type="address", required_before_handoff=True,
                           shelf_life_days=365)  # fmt: skip
    AgentSettings.objects.create(account=tenant.account, inbox=inbox, enabled=True, persona_name="Ava")
    online(tenant.account, tenant.agent)
    return inbox


def _old_address(tenant: Tenant, inbox: Any, contact: Any, days: int = 400) -> Fact:
    fact = fact_record_ai(account=tenant.account, inbox=inbox, contact=contact, key="service_address",
                          value="2450 N Clark St, Chicago, IL 60614", confidence=0.9, engine="test")  # fmt: skip
    assert fact is not None
    Fact.objects.filter(pk=fact.pk).update(created_at=timezone.now() - timedelta(days=days))
    return fact


def test_a_stale_address_is_confirmed_not_asked_again_and_yes_renews_it(tenant: Tenant, installs: Any) -> None:
    first, _ = says(tenant, installs, "hello", address="visitor-fresh")
    contact = first.contact
    fact = _old_address(tenant, installs, contact)
    assert recall(account=tenant.account, contact=contact, inbox=installs).stale == ["service_address"]

    second, decision = says(tenant, installs, "I would like to book the annual service", address="visitor-fresh")
    from memory.models import Handoff

    assert decision == "ask", [h.reason for h in Handoff.objects.all()]
    assert ai_lines(second)[-1].endswith("Is 2450 N Clark St, Chicago, IL 60614 still your service address?")
    third, decision = says(tenant, installs, "Yes, same place", address="visitor-fresh")
    fact.refresh_from_db()
    assert fact.renewed_at is not None and fact.value == "2450 N Clark St, Chicago, IL 60614"
    assert recall(account=tenant.account, contact=contact, inbox=installs).stale == []
    assert not any("still your service address" in line for line in ai_lines(third)[len(ai_lines(second)) :])


def test_a_fresh_fact_is_not_questioned(tenant: Tenant, installs: Any) -> None:
    first, _ = says(tenant, installs, "hello", address="visitor-ok")
    _old_address(tenant, installs, first.contact, days=30)
    second, _ = says(tenant, installs, "Another question about the boiler", address="visitor-ok")
    assert not any("still your" in line for line in ai_lines(second))


def test_a_person_confirming_a_stale_fact_renews_it(tenant: Tenant, installs: Any) -> None:
    first, _ = says(tenant, installs, "hello", address="visitor-p")
    fact = _old_address(tenant, installs, first.contact)
    fact_confirm(account=tenant.account, actor=tenant.agent, fact=fact)
    assert recall(account=tenant.account, contact=first.contact, inbox=installs).stale == []
    Fact.objects.filter(pk=fact.pk).update(confirmed_at=timezone.now() - timedelta(days=500))
    assert recall(account=tenant.account, contact=first.contact, inbox=installs).stale == ["service_address"]
    fact_confirm(account=tenant.account, actor=tenant.admin, fact=Fact.objects.get(pk=fact.pk))  # again, later
    assert recall(account=tenant.account, contact=first.contact, inbox=installs).stale == []


def test_the_panel_shows_age_channel_and_staleness(tenant: Tenant, installs: Any) -> None:
    from inbox.services import inbox_member_add

    inbox_member_add(account=tenant.account, actor=None, inbox=installs, user=tenant.agent)
    first, _ = says(tenant, installs, "hello", address="visitor-panel")
    _old_address(tenant, installs, first.contact)
    url = reverse("web:memory", kwargs={"account_id": tenant.account.pk, "conversation_id": first.conversation_id})
    html = signed_in(tenant.agent).get(url).content.decode()
    assert "may be out of date" in html and "learned 1\xa0year" in html
    assert "365-day shelf life" in html


def test_shelf_life_is_set_and_checked_through_the_api(tenant: Tenant, installs: Any) -> None:
    base = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{installs.pk}/fact-definitions/"
    made = tenant.client("admin").post(
        base, {"key": "meter_id", "label": "Meter", "shelf_life_days": 90}, format="json"
    )
    assert made.status_code == 201 and made.json()["shelf_life_days"] == 90
    bad = tenant.client("admin").post(base, {"key": "x", "label": "X", "shelf_life_days": 0}, format="json")
    assert bad.status_code == 400 and "shelf_life_days" in bad.json()["error"]["fields"]

"""Every stored text is cleaned of what PostgreSQL refuses (NUL, lone surrogates): a signed webhook, an API body
and a search box with such characters are kept or answered, never a 500 and never a lost message."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.text import clean_json, clean_text
from channels_app.models import InboundEvent
from inbox.models import Message
from tests.channels_app.test_twilio import fixture, post, run_pending, sms_endpoint
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def test_the_cleaning_rule() -> None:
    assert clean_text("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert clean_json({"k\x00": ["v\x00", 1, None]}) == {"k\ufffd": ["v\ufffd", 1, None]}


def test_a_signed_sms_with_a_nul_is_kept(tenant: Tenant, settings: Any) -> None:
    endpoint = sms_endpoint(tenant, settings)
    payload = {**fixture("sms_inbound"), "Body": "pipe\x00burst", "ProfileName": "Ro\x00sa"}
    assert post(endpoint, "messaging", payload).status_code == 200
    assert InboundEvent.objects.get().payload["Body"] == "pipe\ufffdburst"
    assert run_pending() == ["processed"]
    assert Message.objects.get().body == "pipe\ufffdburst"


def test_api_bodies_and_searches_with_a_nul(tenant: Tenant) -> None:
    client = tenant.client("admin")
    base = f"/api/v1/accounts/{tenant.account.pk}"
    refused = client.post(f"{base}/contacts", {"name": "Ana\x00"}, format="json")
    assert refused.status_code == 400 and "name" in refused.json()["error"]["fields"]  # a field that says so
    created = client.post(f"{base}/contacts", {"name": "Ana", "attributes": {"x\x00": "y\x00"}}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["attributes"] == {"x\ufffd": "y\ufffd"}  # free-form JSON: kept, cleaned
    assert client.get(f"{base}/search", {"q": "Ana\x00"}).status_code == 200
    assert client.get(f"{base}/contacts", {"q": "\x00"}).status_code == 200

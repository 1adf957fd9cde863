"""Sign-in lockout by email and by client address, password-reset limits, and API limits per token: the attacks
of the security review (50 wrong passwords then the right one; 20 reset emails in 0.4 s) fail."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.throttles import TokenRateThrottle
from tests.conftest import Tenant
from tests.factories import TEST_PASSWORD, api_token_for

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, email: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": email, "password": password})


def test_wrong_passwords_lock_the_email_and_then_the_right_one_does_not_work(tenant: Tenant) -> None:
    client = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(4):
        assert _sign_in(client, tenant.admin.email, "wrong-password").status_code == 200  # the form again
    assert _sign_in(client, tenant.admin.email, "wrong-password").status_code == 429  # the fifth pauses it
    locked = _sign_in(Client(REMOTE_ADDR="203.0.113.99"), tenant.admin.email.upper(), TEST_PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_emails_is_paused(tenant: Tenant) -> None:
    client = Client(REMOTE_ADDR="203.0.113.20")
    for n in range(5):
        _sign_in(client, f"guess-{n}@example.com", "wrong-password")
    assert _sign_in(client, tenant.agent.email, TEST_PASSWORD).status_code == 429
    # someone else, elsewhere, signs in as usual
    assert _sign_in(Client(REMOTE_ADDR="203.0.113.21"), tenant.agent.email, TEST_PASSWORD).status_code == 302


def test_a_right_password_before_the_limit_resets_the_count(tenant: Tenant) -> None:
    client = Client(REMOTE_ADDR="203.0.113.30")
    for _ in range(4):
        _sign_in(client, tenant.admin.email, "wrong-password")
    assert _sign_in(client, tenant.admin.email, TEST_PASSWORD).status_code == 302
    other = Client(REMOTE_ADDR="203.0.113.31")
    for _ in range(4):
        _sign_in(other, tenant.admin.email, "wrong-password")
    assert _sign_in(other, tenant.admin.email, TEST_PASSWORD).status_code == 302


def _fresh_address() -> str:
    # The limits live in Redis for an hour, across test runs: each run asks from an address of its own.
    return f"2001:db8::{secrets.randbits(16):x}:{secrets.randbits(16):x}:{secrets.randbits(16):x}"


def test_password_reset_is_limited_per_email_and_per_address(tenant: Tenant) -> None:
    url = reverse("password_reset")
    tenant.agent.email = f"reset-{secrets.token_hex(6)}@example.com"
    tenant.agent.save()
    client = Client(REMOTE_ADDR=_fresh_address())
    answers = [client.post(url, {"email": tenant.agent.email}).status_code for _ in range(20)]
    assert answers[:3] == [302, 302, 302] and set(answers[3:]) == {429}
    assert len(mail.outbox) == 3
    sweeper = Client(REMOTE_ADDR=_fresh_address())
    run = secrets.token_hex(4)
    answers = [sweeper.post(url, {"email": f"someone-{run}-{n}@example.com"}).status_code for n in range(12)]
    assert answers[:10] == [302] * 10 and set(answers[10:]) == {429}


def test_api_requests_are_limited_per_token(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    busy = tenant.client("admin")
    path = f"/api/v1/accounts/{tenant.account.pk}/inboxes"
    assert [busy.get(path).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = busy.get(path)
    assert refused.json()["error"]["code"] == "throttled" and int(refused["Retry-After"]) > 0
    # another token of the same account is not slowed by the first one
    from rest_framework.test import APIClient

    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(tenant.admin_membership)}")
    assert other.get(path).status_code == 200

"""Optional two-factor sign-in: turned on with a code from the app, then every password sign-in owes a code
before any console page, session API call or console websocket; API tokens are unaffected; off with a code."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.asgi import application
from tests.conftest import Tenant, make_tenant
from tests.factories import TEST_PASSWORD


def code(device: TOTPDevice, *, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def _sign_in(client: Client, email: str) -> None:
    assert client.post(reverse("login"), {"username": email, "password": TEST_PASSWORD}).status_code == 302


@pytest.fixture(autouse=True)
def _no_throttle_between_tries(settings: Any) -> None:
    # django-otp slows down tries after a wrong code (1 s, doubling); these tests try right after a wrong one
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.mark.django_db
def test_turn_on_then_every_sign_in_owes_a_code(tenant: Tenant) -> None:
    browser = Client(REMOTE_ADDR="203.0.113.70")
    _sign_in(browser, tenant.agent.email)
    setup = browser.get(reverse("two-factor"))
    assert setup.status_code == 200 and b"data:image/svg+xml" in setup.content
    device = TOTPDevice.objects.get(user=tenant.agent, confirmed=False)
    wrong = browser.post(reverse("two-factor"), {"code": "000000" if code(device) != "000000" else "111111"})
    assert b"does not match" in wrong.content and not TOTPDevice.objects.filter(confirmed=True).exists()
    assert browser.post(reverse("two-factor"), {"code": code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed

    later = Client(REMOTE_ADDR="203.0.113.71")
    _sign_in(later, tenant.agent.email)
    page = later.get(f"/a/{tenant.account.pk}/")
    assert page.status_code == 302 and page["Location"].startswith(reverse("two-factor-verify"))
    api = later.get(f"/api/v1/accounts/{tenant.account.pk}/inboxes")
    assert api.status_code == 403 and api.json()["error"]["code"] == "two_factor_required"
    # an API token is its own factor
    assert tenant.client("agent").get(f"/api/v1/accounts/{tenant.account.pk}/inboxes").status_code == 200
    assert b"does not match" in later.post(reverse("two-factor-verify"), {"code": "12345x"}).content
    # a code is taken once per time step: the sign-in uses the next step's (the app shows it a moment later)
    ok = later.post(reverse("two-factor-verify"), {"code": code(device, offset=1), "next": f"/a/{tenant.account.pk}/"})
    assert ok.status_code == 302 and ok["Location"] == f"/a/{tenant.account.pk}/"
    assert later.get(f"/a/{tenant.account.pk}/").status_code == 200
    assert later.get(f"/api/v1/accounts/{tenant.account.pk}/inboxes").status_code == 200


@pytest.mark.django_db
def test_turning_it_off_needs_a_current_code(tenant: Tenant) -> None:
    device = TOTPDevice.objects.create(user=tenant.admin, name="app", confirmed=True)
    browser = Client(REMOTE_ADDR="203.0.113.72")
    _sign_in(browser, tenant.admin.email)
    browser.post(reverse("two-factor-verify"), {"code": code(device)})
    browser.post(reverse("two-factor-disable"), {"code": "000000" if code(device, offset=1) != "000000" else "1"})
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    browser.post(reverse("two-factor-disable"), {"code": code(device, offset=1)})
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_console_socket_waits_for_the_code() -> None:
    tenant: Tenant = await sync_to_async(make_tenant)("A")
    await sync_to_async(TOTPDevice.objects.create)(user=tenant.agent, name="app", confirmed=True)

    def signed_in_cookie() -> bytes:
        client = Client(REMOTE_ADDR="203.0.113.73")
        _sign_in(client, tenant.agent.email)
        return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()

    cookie = await sync_to_async(signed_in_cookie)()
    socket = WebsocketCommunicator(
        application,
        f"/ws/v1/accounts/{tenant.account.pk}/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
    )
    connected, close_code = await socket.connect(timeout=5)
    assert not connected and close_code == 4401
    await socket.disconnect()

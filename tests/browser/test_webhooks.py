"""An admin subscribes a webhook in the console to a receiver this test runs; a real worker delivers the events
(a test ping, then a customer's message) and the receiver verifies each signature with the secret the page showed
once; the console lists the deliveries with their answers, and a replay sends the same event again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from tests.browser.conftest import sign_in
from tests.conftest import make_tenant, wait_until
from tests.factories import InboxFactory, inbound
from tests.fakes.webhook_receiver import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver_for_worker(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Receiver]:
    """The receiver on 127.0.0.1, allowed by the operator's setting in this process and in the worker started
    after it (which reads the environment)."""
    with Receiver() as receiver:
        monkeypatch.setenv("OUTBOUND_ALLOWED_INTERNAL_HOSTS", receiver.hostport)
        settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = [receiver.hostport]
        yield receiver


@pytest.mark.integration
def test_subscribe_in_the_console_and_verify_what_arrives(
    receiver_for_worker: Receiver, celery_worker_process: Any, asgi_server: str, browser: Any
) -> None:
    receiver = receiver_for_worker
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    sign_in(page, asgi_server, tenant.admin.email)
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/settings/")
    page.get_by_role("link", name="Integrations").click()
    page.get_by_role("heading", name="Outbound webhooks").wait_for()

    # an internal address is refused with the reason, next to the field
    page.get_by_label("Address (https)").fill("http://10.0.0.5/hook")
    page.get_by_role("button", name="Add webhook").click()
    page.get_by_text("not a public address").first.wait_for()

    page.get_by_label("Address (https)").fill(receiver.url)
    page.get_by_label("What it is for").fill("CRM sync")
    page.get_by_role("checkbox", name="handoff.created").check()
    page.get_by_role("button", name="Add webhook").click()
    page.locator("#new-secret").wait_for(state="visible")
    secret = page.locator("#new-secret [data-output-value]").inner_text()
    assert secret.startswith("whsec_")
    subscription = WebhookSubscription.objects.get(account=tenant.account)
    assert subscription.events == ["handoff.created", "message.created"]

    page.reload()
    page.get_by_role("button", name="Send a test event").click()
    wait_until(lambda: len(receiver.requests) >= 1, timeout=20, what="the test ping at the receiver")
    ping = receiver.requests[0]
    assert json.loads(ping["body"])["type"] == "ping"
    assert webhooks.verify(secret, ping["headers"]["Continuum-Signature"], ping["body"])

    # a customer writes in: the worker fans the event out and delivers it, signed
    message = inbound(tenant.account, support, "+13125550123", "Leak under the sink")
    wait_until(
        lambda: any(json.loads(r["body"])["type"] == "message.created" for r in receiver.requests),
        timeout=20,
        what="message.created at the receiver",
    )
    arrived = next(r for r in receiver.requests if json.loads(r["body"])["type"] == "message.created")
    body = json.loads(arrived["body"])
    assert body["data"]["message"]["id"] == message.pk and body["data"]["message"]["body"] == "Leak under the sink"
    assert webhooks.verify(secret, arrived["headers"]["Continuum-Signature"], arrived["body"])

    # the console lists both deliveries with the receiver's answer; a replay sends the same event again
    page.reload()
    delivery = WebhookDelivery.objects.get(event_id=body["id"])
    row = page.locator(f"table.deliveries tr[data-delivery-id='{delivery.pk}']")
    assert "Delivered" in row.inner_text() and "200" in row.inner_text()
    before = len(receiver.requests)
    row.get_by_role("button", name="Replay message.created").click()
    wait_until(lambda: len(receiver.requests) > before, timeout=20, what="the replay at the receiver")
    assert json.loads(receiver.requests[-1]["body"])["id"] == body["id"]
    wait_until(  # the receiver answers before the worker records the answer
        lambda: WebhookDelivery.objects.filter(event_id=body["id"], state="succeeded").count() == 2,
        timeout=20,
        what="the replay recorded as succeeded",
    )

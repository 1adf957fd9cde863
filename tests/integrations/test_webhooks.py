"""Outbound webhooks against a real HTTP receiver on 127.0.0.1: subscribed through the API, signed, retried with
backoff, kept with their answers, replayable, turned off after repeated failures with a notice; internal
addresses refused when saved and when sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from inbox.models import Notification
from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from memory.services import handoff_record
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from tests.fakes.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    with Receiver() as server:
        # the operator's allow-list is the only way to an internal address; tests run the receiver on 127.0.0.1
        settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = [server.hostport]
        yield server


def subscribe(tenant: Tenant, url: str, events: list[str]) -> dict[str, Any]:
    response = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/webhooks/", {"url": url, "events": events}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_message_reaches_the_receiver_signed(
    tenant: Tenant, receiver: Receiver, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    created = subscribe(tenant, receiver.url, ["message.created", "handoff.created"])
    secret = created["secret"]
    stored = WebhookSubscription.objects.get(pk=created["id"])
    assert secret.startswith("whsec_") and secret not in stored.secret_encrypted  # encrypted at rest
    assert "secret" not in tenant.client("admin").get(f"/api/v1/accounts/{tenant.account.pk}/webhooks/").json()[0]

    inbox = InboxFactory(account=tenant.account)
    with django_capture_on_commit_callbacks(execute=True):
        message = inbound(tenant.account, inbox, "+13125550111", "The boiler is making a noise")
    with django_capture_on_commit_callbacks(execute=True):
        handoff_record(account=tenant.account, conversation=message.conversation, reason="asked for a person",
                       from_party="AI agent")  # fmt: skip

    bodies = [json.loads(r["body"]) for r in receiver.requests]
    created_events = [b for b in bodies if b["type"] == "message.created" and b["data"]["message"]["id"] == message.pk]
    assert len(created_events) == 1
    event = created_events[0]
    assert event["data"]["message"]["body"] == "The boiler is making a noise"
    assert event["data"]["message"]["contact_id"] == message.contact_id and event["account_id"] == tenant.account.pk
    handoffs = [b for b in bodies if b["type"] == "handoff.created"]
    assert len(handoffs) == 1 and handoffs[0]["data"]["handoff"]["reason"] == "asked for a person"
    assert not [b for b in bodies if b["type"] == "conversation.updated"]  # not subscribed

    first = next(r for r in receiver.requests if json.loads(r["body"])["id"] == event["id"])
    assert first["headers"]["Continuum-Event"] == "message.created"
    assert first["headers"]["Continuum-Event-Id"] == event["id"]
    assert webhooks.verify(secret, first["headers"]["Continuum-Signature"], first["body"])
    assert not webhooks.verify("whsec_wrong", first["headers"]["Continuum-Signature"], first["body"])
    assert not webhooks.verify(secret, first["headers"]["Continuum-Signature"], first["body"] + b" ")
    stale = webhooks.sign(secret, 1_000_000_000, first["body"])
    assert not webhooks.verify(secret, stale, first["body"])  # an old capture is refused
    delivery = WebhookDelivery.objects.get(event_id=event["id"])
    assert (delivery.state, delivery.response_status, delivery.attempts) == ("succeeded", 200, 1)


def test_an_account_without_subscriptions_queues_nothing(
    tenant: Tenant, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    inbox = InboxFactory(account=tenant.account)
    with django_capture_on_commit_callbacks(execute=True):
        inbound(tenant.account, inbox, "+13125550112", "hi")
    assert not WebhookDelivery.objects.exists()


def test_failures_retry_with_backoff_then_turn_the_subscription_off(
    tenant: Tenant, receiver: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WEBHOOK_DISABLE_AFTER = 3
    created = subscribe(tenant, receiver.url, ["conversation.updated"])
    subscription = WebhookSubscription.objects.get(pk=created["id"])
    receiver.statuses = [500, 503, 500]
    ids = webhooks.fanout(tenant.account.pk, "conversation.updated", {"conversation": {"id": 1}})
    delivery_id = ids[0]
    start = timezone.now()
    assert webhooks.deliver(delivery_id, now=start) == "retrying"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.response_status == 500 and delivery.response_body == "receiver says no"
    assert delivery.error == "The receiver answered 500."
    assert delivery.next_attempt_at == start + timedelta(seconds=60)
    assert webhooks.due_deliveries(start + timedelta(seconds=30)) == []  # not before its time
    assert webhooks.due_deliveries(start + timedelta(seconds=61)) == [delivery_id]
    assert webhooks.deliver(delivery_id, now=start) == "retrying"
    assert WebhookDelivery.objects.get(pk=delivery_id).next_attempt_at == start + timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.deliver(delivery_id, now=start)  # the third failure in a row: turned off, admins told
    subscription.refresh_from_db()
    assert not subscription.enabled and "3 failed attempts in a row" in subscription.disabled_reason
    notice = Notification.objects.get(user=tenant.admin, kind="integration")
    assert receiver.url in notice.text
    assert not Notification.objects.filter(user=tenant.agent, kind="integration").exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [tenant.admin.email]
    # a turned-off subscription gets no new deliveries, and a due retry fails without a request
    assert webhooks.fanout(tenant.account.pk, "conversation.updated", {}) == []
    requests_before = len(receiver.requests)
    assert webhooks.deliver(delivery_id) == "failed"
    assert len(receiver.requests) == requests_before

    # an admin turns it back on after fixing the receiver, and replays the event: the same id and body
    response = tenant.client("admin").patch(
        f"/api/v1/accounts/{tenant.account.pk}/webhooks/{subscription.pk}/", {"enabled": True}, format="json"
    )
    assert response.json()["enabled"] is True and response.json()["consecutive_failures"] == 0
    replayed = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/webhooks/{subscription.pk}/deliveries/{delivery_id}/replay/"
    )
    assert replayed.status_code == 202
    again = WebhookDelivery.objects.get(pk=replayed.json()["id"])
    assert webhooks.deliver(again.pk) == "succeeded"
    original = WebhookDelivery.objects.get(pk=delivery_id)
    assert again.event_id == original.event_id and json.loads(receiver.requests[-1]["body"]) == original.payload


def test_the_last_retry_fails_for_good(tenant: Tenant, receiver: Receiver) -> None:
    created = subscribe(tenant, receiver.url, ["csat.created"])
    receiver.statuses = [500] * 10
    (delivery_id,) = webhooks.fanout(tenant.account.pk, "csat.created", {"csat": {"rating": 2}})
    states = [webhooks.deliver(delivery_id) for _ in range(len(webhooks.RETRY_DELAYS) + 1)]
    assert states == ["retrying"] * len(webhooks.RETRY_DELAYS) + ["failed"]
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == len(webhooks.RETRY_DELAYS) + 1
    assert WebhookSubscription.objects.get(pk=created["id"]).enabled  # 7 < 15 in a row


def test_a_redirect_is_not_followed(tenant: Tenant, receiver: Receiver) -> None:
    subscribe(tenant, receiver.url, ["memory.updated"])
    receiver.statuses = [302]
    (delivery_id,) = webhooks.fanout(tenant.account.pk, "memory.updated", {})
    webhooks.deliver(delivery_id)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.response_status == 302 and "not redirected" in delivery.error
    assert len(receiver.requests) == 1  # nothing went to the Location


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/hook", "public address"),
        ("http://169.254.169.254/latest/meta-data", "public address"),
        ("http://[::1]/hook", "public address"),
        ("ftp://example.com/hook", "Only http and https"),
        ("https://user:pw@example.com/hook", "user name or password"),
    ],
)
def test_internal_and_odd_addresses_are_refused_when_saved(tenant: Tenant, url: str, words: str) -> None:
    response = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/webhooks/", {"url": url, "events": ["message.created"]}, format="json"
    )
    assert response.status_code == 400
    assert words in response.json()["error"]["fields"]["url"][0]


def test_an_address_that_turns_internal_later_is_refused_when_sent(
    tenant: Tenant, receiver: Receiver, settings: Any
) -> None:
    created = subscribe(tenant, receiver.url, ["message.created"])
    settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = []  # as if its DNS now pointed inside
    (delivery_id,) = webhooks.fanout(tenant.account.pk, "message.created", {})
    webhooks.deliver(delivery_id)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert "public address" in delivery.error and delivery.response_status is None
    assert receiver.requests == [] and created["id"]


def test_unknown_events_and_agents_are_refused(tenant: Tenant) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}/webhooks/"
    bad = tenant.client("admin").post(
        url, {"url": "https://example.com/h", "events": ["message.deleted"]}, format="json"
    )
    assert bad.status_code == 400 and "not a valid choice" in bad.json()["error"]["fields"]["events.0"][0]
    assert tenant.client("agent").get(url).status_code == 403
    assert (
        tenant.client("agent")
        .post(url, {"url": "https://example.com/h", "events": ["message.created"]}, format="json")
        .status_code
        == 403
    )


def test_a_test_ping_and_a_rotated_secret(tenant: Tenant, receiver: Receiver) -> None:
    created = subscribe(tenant, receiver.url, ["message.created"])
    base = f"/api/v1/accounts/{tenant.account.pk}/webhooks/{created['id']}"
    rotated = tenant.client("admin").post(f"{base}/rotate-secret/").json()["secret"]
    assert rotated != created["secret"]
    ping = tenant.client("admin").post(f"{base}/test/")
    assert ping.status_code == 202 and ping.json()["event"] == "ping"
    webhooks.deliver(ping.json()["id"])
    request = receiver.requests[-1]
    assert webhooks.verify(rotated, request["headers"]["Continuum-Signature"], request["body"])
    assert not webhooks.verify(created["secret"], request["headers"]["Continuum-Signature"], request["body"])
    listed = tenant.client("admin").get(f"{base}/deliveries/").json()["results"]
    assert listed[0]["state"] == "succeeded" and listed[0]["response_status"] == 200


def test_a_fan_out_run_twice_makes_its_deliveries_once_and_a_sweep_hands_each_out_once(
    tenant: Tenant, receiver: Receiver
) -> None:
    subscribe(tenant, receiver.url, ["message.created"])
    first = webhooks.fanout(tenant.account.pk, "message.created", {"x": 1}, "evt_same")
    assert len(first) == 1 and webhooks.fanout(tenant.account.pk, "message.created", {"x": 1}, "evt_same") == []
    later = timezone.now() + timedelta(minutes=3)
    assert webhooks.claim_due(later) == first
    assert webhooks.claim_due(later) == []  # claimed: not queued again while its task waits


@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_holds_no_lock_and_no_transaction(tenant: Tenant, receiver: Receiver) -> None:
    """While the receiver answers, the delivery's row is not locked and the sending connection has no transaction
    open (a receiver taking its time used to hold both for up to the timeout); a second worker handed the same
    delivery meanwhile sends nothing; a lease left by a worker that died mid-attempt runs out and it is sent."""
    from django.db import connection, connections

    subscribe(tenant, receiver.url, ["conversation.updated"])
    (delivery_id,) = webhooks.fanout(tenant.account.pk, "conversation.updated", {"conversation": {"id": 1}})
    sender_pid = connection.cursor().connection.info.backend_pid
    seen: dict[str, Any] = {}

    def meanwhile() -> None:
        try:
            with connections["default"].cursor() as cursor:  # this thread's own connection
                cursor.execute(
                    "SELECT id FROM integrations_webhookdelivery WHERE id = %s FOR UPDATE NOWAIT", [delivery_id]
                )
                seen["row"] = cursor.fetchone()
                cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [sender_pid])
                seen["sender"] = cursor.fetchone()[0]
            seen["second"] = webhooks.deliver(delivery_id)
        finally:
            connections.close_all()

    receiver.during = meanwhile
    assert webhooks.deliver(delivery_id) == "succeeded"
    assert receiver.errors == []
    assert seen == {"row": (delivery_id,), "sender": "idle", "second": None}  # idle: not "idle in transaction"
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.get(pk=delivery_id).leased_until is None

    # a worker died during its attempt: the delivery stays leased until the lease runs out, then it is sent
    receiver.during = None
    (orphan,) = webhooks.fanout(tenant.account.pk, "conversation.updated", {"conversation": {"id": 2}})
    leased = timezone.now() + webhooks.LEASE
    WebhookDelivery.objects.filter(pk=orphan).update(leased_until=leased, next_attempt_at=leased)
    assert webhooks.deliver(orphan) is None and webhooks.due_deliveries() == []
    assert webhooks.due_deliveries(leased + timedelta(seconds=1)) == [orphan]
    WebhookDelivery.objects.filter(pk=orphan).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert webhooks.deliver(orphan) == "succeeded" and len(receiver.requests) == 2

    # a delivery whose every attempt was started and whose last never came back is not tried again
    (stuck,) = webhooks.fanout(tenant.account.pk, "conversation.updated", {"conversation": {"id": 3}})
    WebhookDelivery.objects.filter(pk=stuck).update(
        state="retrying", attempts=len(webhooks.RETRY_DELAYS) + 1, leased_until=timezone.now() - timedelta(seconds=1)
    )
    assert webhooks.deliver(stuck) == "failed" and len(receiver.requests) == 2
    assert WebhookDelivery.objects.get(pk=stuck).error == "The last attempt never finished (its worker stopped)."

"""Exactly-once delivery and nothing stranded: a reply is sent once even when Twilio's answer is lost or never
comes, a busy Twilio ends in a truthful failure, a stuck reply is re-queued, early status callbacks wait for
their message, and a database or broker outage never loses or fails work that was accepted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

import channels_app.webhooks
from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import deliver_message, process_inbound_event, sweep_outbound
from inbox.models import Conversation, Message
from inbox.services import send_message
from tests.channels_app.test_twilio import fixture, post, run_pending
from tests.conftest import Tenant
from tests.fakes.twilio_server import FakeTwilio

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sms: ChannelEndpoint) -> Conversation:
    post(sms, "messaging", fixture("sms_inbound"))
    assert run_pending() == ["processed"]
    return Message.objects.get().conversation


def reply(tenant: Tenant, conversation: Conversation, body: str = "A plumber is on the way") -> Message:
    return send_message(account=tenant.account, conversation=conversation, body=body, sender_user=tenant.agent)


def test_an_answer_lost_after_twilio_accepted_sends_nothing_twice(
    tenant: Tenant, conversation: Conversation, twilio: FakeTwilio
) -> None:
    message = reply(tenant, conversation)
    twilio.lose_answers = 1  # Twilio accepts the message, and the connection drops before its answer
    assert deliver_message.apply(args=(tenant.account.pk, message.pk)).get() == "sent"
    [sent] = twilio.sent  # the retry asked Twilio first, found it, and did not send again
    assert twilio.listed == 1
    message.refresh_from_db()
    assert message.provider_id == sent["sid"] and message.metadata["send_attempt"]


def test_a_hanging_twilio_times_out_and_still_sends_once(
    tenant: Tenant, conversation: Conversation, twilio: FakeTwilio, settings: Any
) -> None:
    settings.TWILIO_HTTP_TIMEOUT = 0.3
    twilio.lose_answers, twilio.answer_delay = 1, 1.5  # accepted, then no answer until long after the timeout
    message = reply(tenant, conversation)
    assert deliver_message.apply(args=(tenant.account.pk, message.pk)).get() == "sent"
    assert len(twilio.sent) == 1
    message.refresh_from_db()
    assert message.provider_id == twilio.sent[0]["sid"] and message.delivery_status != "failed"


def test_busy_until_the_last_try_fails_with_the_truth(
    tenant: Tenant, conversation: Conversation, twilio: FakeTwilio
) -> None:
    message = reply(tenant, conversation)
    twilio.replies.extend([(429, 20429)] * (deliver_message.max_retries + 1))
    assert deliver_message.apply(args=(tenant.account.pk, message.pk)).get() == "failed"
    message.refresh_from_db()
    assert message.delivery_status == "failed" and message.error_code == "20429"
    assert "retrying" not in message.error_message
    assert message.error_message.endswith(f"Not sent after {deliver_message.max_retries + 1} tries.")
    assert twilio.sent == []


def test_a_reply_being_sent_elsewhere_is_not_sent_again(
    tenant: Tenant, conversation: Conversation, twilio: FakeTwilio
) -> None:
    message = reply(tenant, conversation)
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}
    with psycopg.connect(**params, autocommit=True) as other:  # another worker, in the middle of the send
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"deliver:{message.pk}"])
        assert deliver_message.run(tenant.account.pk, message.pk) == "another worker is sending it"
    assert twilio.sent == []
    assert deliver_message.run(tenant.account.pk, message.pk) == "sent"  # the claim is free again
    assert len(twilio.sent) == 1


def test_the_sweeper_requeues_replies_stuck_in_queued(
    tenant: Tenant, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck, fresh = reply(tenant, conversation, "stuck"), reply(tenant, conversation, "fresh")
    Message.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(deliver_message, "delay", lambda *args: queued.append(args))
    assert sweep_outbound.run() == 1
    assert queued == [(tenant.account.pk, stuck.pk)]
    assert fresh.pk not in [m for _a, m in queued]


def test_a_status_callback_before_the_sid_is_stored_waits_for_it(
    tenant: Tenant, sms: ChannelEndpoint, conversation: Conversation, twilio: FakeTwilio
) -> None:
    message = reply(tenant, conversation)
    post(sms, "status", fixture("status_delivered", SENT_SID="SMearly0000000000000000000000000001"))
    event = InboundEvent.objects.get(kind="status")
    with pytest.raises(Exception, match="No message we sent has the sid"):
        process_inbound_event.run(event.pk)  # outside a worker the retry raises; in a worker it is re-queued
    event.refresh_from_db()
    assert event.status == "pending"  # not failed: it waits for its message
    Message.objects.filter(pk=message.pk).update(
        provider_id="SMearly0000000000000000000000000001", provider_endpoint=str(sms.public_id)
    )
    assert process_inbound_event.run(event.pk) == "processed"
    message.refresh_from_db()
    assert message.delivery_status == "delivered"


def test_a_database_error_in_a_tasks_first_query_is_retried(
    sms: ChannelEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(sms, "messaging", fixture("sms_inbound"))
    event = InboundEvent.objects.get()
    real = InboundEvent.objects.select_related
    failures = [OperationalError("server closed the connection unexpectedly")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args)

    monkeypatch.setattr(InboundEvent.objects, "select_related", flaky)
    assert process_inbound_event.apply(args=(event.pk,)).get() == "processed"
    assert Message.objects.count() == 1


def test_webhooks_answer_503_with_retry_after_when_the_database_is_down(
    sms: ChannelEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(public_id: str) -> Any:
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(channels_app.webhooks, "_twilio_endpoint", down)
    response = Client().post(f"/webhooks/twilio/{sms.public_id}/messaging", fixture("sms_inbound"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "database_unavailable"


def test_a_broker_that_is_down_costs_the_webhook_nothing(sms: ChannelEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(process_inbound_event, "apply_async", refused)
    assert post(sms, "messaging", fixture("sms_inbound")).status_code == 200
    assert InboundEvent.objects.get().status == "pending"  # stored; the sweeper enqueues it


def test_duplicate_and_out_of_order_status_callbacks_the_furthest_wins(
    tenant: Tenant, sms: ChannelEndpoint, conversation: Conversation, twilio: FakeTwilio
) -> None:
    message = reply(tenant, conversation)
    assert deliver_message.run(tenant.account.pk, message.pk) == "sent"
    sid = twilio.sent[0]["sid"]

    def callback(status: str) -> None:
        payload = fixture("status_delivered", SENT_SID=sid)
        payload.update({"MessageStatus": status, "SmsStatus": status})
        assert post(sms, "status", payload).status_code == 200

    for status in ("delivered", "sent", "delivered", "queued", "sent"):  # late and repeated callbacks
        callback(status)
    assert set(run_pending()) == {"processed"}
    message.refresh_from_db()
    assert message.delivery_status == "delivered"
    assert InboundEvent.objects.filter(kind="status").count() == 3  # one per distinct status; repeats are retries

"""Twilio Messaging, signed exactly as Twilio signs: webhooks refused when forged, stored once, processed into
the inbox; replies sent through the real twilio client to a fake Twilio; status callbacks update delivery."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from accounts.errors import ServiceError
from channels_app.adapters.twilio import webhook_url
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import deliver_message, process_inbound_event, sweep_inbound_events
from contacts.models import Contact, ContactIdentity
from inbox.models import Message
from inbox.services import send_message
from tests.conftest import Tenant
from tests.factories import InboxFactory
from tests.fakes.twilio_server import FakeTwilio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"
SID, TOKEN = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "twilio-auth-token-for-tests"


def fixture(name: str, **replace: str) -> dict[str, str]:
    text = (FIXTURES / f"{name}.json").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return dict(json.loads(text))


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as server:
        yield server


def sms_endpoint(tenant: Tenant, settings: Any, *, api_base: str = "") -> ChannelEndpoint:
    """A Twilio SMS number of the tenant's Support inbox, its webhooks signed for https://inbox.example.com."""
    settings.TWILIO_API_BASE_URL = api_base
    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    return ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=InboxFactory(account=tenant.account, name="Support"),
        kind="sms",
        address="+13125550100",
        credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
    )


@pytest.fixture
def endpoint(tenant: Tenant, fake: FakeTwilio, settings: Any) -> ChannelEndpoint:
    return sms_endpoint(tenant, settings, api_base=fake.url)


def post(endpoint: ChannelEndpoint, kind: str, payload: dict[str, str], *, signature: str | None = None) -> Any:
    url = webhook_url(endpoint, kind)
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(url, payload)
    path = url.removeprefix("https://inbox.example.com")
    return Client().post(path, payload, HTTP_X_TWILIO_SIGNATURE=signature)


def run_pending() -> list[str]:
    return [
        process_inbound_event.run(pk)
        for pk in InboundEvent.objects.filter(status="pending").values_list("pk", flat=True)
    ]


@pytest.mark.django_db
def test_signed_sms_lands_in_the_inbox(tenant: Tenant, endpoint: ChannelEndpoint) -> None:
    response = post(endpoint, "messaging", fixture("sms_inbound"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.decode().endswith("<Response/>")
    assert run_pending() == ["processed"]
    message = Message.objects.get()
    assert (message.channel, message.body, message.provider_id) == (
        "sms",
        "Hi, the water heater is leaking again",
        "SM5f1c7a6d2b8e4a0c9d3e1f2a3b4c5d6e",
    )
    assert message.contact.identities.get().value == "+13125550188"


@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_forged_or_missing_signature_is_refused_and_nothing_is_stored(
    endpoint: ChannelEndpoint, signature: str
) -> None:
    response = post(endpoint, "messaging", fixture("sms_inbound"), signature=signature)
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0 and Message.objects.count() == 0


@pytest.mark.django_db
def test_signed_for_another_url_is_refused(endpoint: ChannelEndpoint) -> None:
    payload = fixture("sms_inbound")
    signature = RequestValidator(TOKEN).compute_signature("https://evil.example.com/x", payload)
    assert post(endpoint, "messaging", payload, signature=signature).status_code == 403


@pytest.mark.django_db
def test_retries_are_no_ops(endpoint: ChannelEndpoint) -> None:
    for _ in range(5):
        assert post(endpoint, "messaging", fixture("sms_inbound")).status_code == 200
    assert InboundEvent.objects.count() == 1
    run_pending()
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_five_concurrent_posts_of_one_sid_make_one_message(endpoint: ChannelEndpoint) -> None:
    barrier = threading.Barrier(5)
    codes: list[int] = []

    def send() -> None:
        barrier.wait(timeout=10)
        codes.append(post(endpoint, "messaging", fixture("sms_inbound")).status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert codes == [200] * 5
    assert InboundEvent.objects.count() == 1
    run_pending()
    assert Message.objects.count() == 1


def _copies(endpoint: ChannelEndpoint, senders: tuple[str, str]) -> list[InboundEvent]:
    """Two events carrying one Twilio message (as a copy stored another way would), from these senders."""
    from channels_app.intake import store_once

    ids = [
        store_once(endpoint, "messaging", f"copy-{n}", fixture("sms_inbound", **{"+13125550188": sender}))
        for n, sender in enumerate(senders)
    ]
    return list(InboundEvent.objects.filter(pk__in=ids).order_by("pk"))


@pytest.mark.django_db(transaction=True)
def test_two_copies_of_one_message_processed_at_once_make_one_message(endpoint: ChannelEndpoint) -> None:
    events, barrier, outcomes = _copies(endpoint, ("+13125550188", "+13125550188")), threading.Barrier(2), []

    def work(event: InboundEvent) -> None:
        barrier.wait(timeout=10)
        outcomes.append(process_inbound_event.run(event.pk))
        connection.close()

    threads = [threading.Thread(target=work, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == ["processed", "processed"]
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_copy_stored_meanwhile_under_another_sender_is_found_on_the_next_try(endpoint: ChannelEndpoint) -> None:
    """The per-sender lock cannot order copies from two senders: the second insert meets the unique constraint, and
    the task tries again (instead of failing the event) and finds the message."""
    from channels_app.processing import handlers

    first, second = _copies(endpoint, ("+13125550188", "+13125550199"))
    inserted, done = threading.Event(), threading.Event()

    def hold_the_first_uncommitted() -> None:
        with transaction.atomic():
            handlers()[0]["messaging"](InboundEvent.objects.select_related("endpoint", "account").get(pk=first.pk))
            inserted.set()
            done.wait(timeout=3)  # the second task's insert waits on this row's unique key meanwhile
        connection.close()

    holder = threading.Thread(target=hold_the_first_uncommitted)
    holder.start()
    assert inserted.wait(timeout=10)
    threading.Timer(1.0, done.set).start()  # the second task reads before this commits, then waits on its rows
    process_inbound_event.apply((second.pk,))
    holder.join(timeout=10)
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("processed", 2)
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_malformed_but_signed_is_kept_failed_with_the_reason(endpoint: ChannelEndpoint) -> None:
    payload = {k: v for k, v in fixture("sms_inbound").items() if k != "From"}
    assert post(endpoint, "messaging", payload).status_code == 200
    assert run_pending() == ["failed"]
    event = InboundEvent.objects.get()
    assert event.status == "failed" and event.error == "A messaging webhook needs MessageSid and From."
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_admins_see_failed_events_and_replay_them(endpoint: ChannelEndpoint, tenant: Tenant, monkeypatch: Any) -> None:
    payload = {k: v for k, v in fixture("sms_inbound").items() if k != "From"}
    post(endpoint, "messaging", payload)
    run_pending()
    url = f"/api/v1/accounts/{tenant.account.pk}/inbound-events"
    assert tenant.client("agent").get(url).status_code == 403
    [failed] = tenant.client().get(url, {"status": "failed"}).json()["results"]
    assert failed["error"] == "A messaging webhook needs MessageSid and From."
    # the cause is fixed (here: the payload is completed), then the event is replayed
    InboundEvent.objects.filter(pk=failed["id"]).update(payload={**payload, "From": "+13125550188"})
    queued: list[int] = []
    monkeypatch.setattr(process_inbound_event, "delay", lambda pk: queued.append(pk))
    replayed = tenant.client().post(f"{url}/{failed['id']}/replay")
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    assert process_inbound_event.run(failed["id"]) == "processed"
    assert Message.objects.count() == 1
    again = tenant.client().post(f"{url}/{failed['id']}/replay")
    assert again.status_code == 409


@pytest.mark.django_db
def test_whatsapp_with_media_joins_the_sms_contact(
    endpoint: ChannelEndpoint, fake: FakeTwilio, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    post(endpoint, "messaging", fixture("sms_inbound"))
    post(endpoint, "messaging", fixture("whatsapp_inbound", MEDIA_BASE=fake.url))
    assert run_pending() == ["processed", "processed"]
    assert Contact.objects.count() == 1
    contact = Contact.objects.get()
    assert contact.name == "Rosa Diaz"
    whatsapp = Message.objects.get(channel="whatsapp")
    assert whatsapp.conversation_id == Message.objects.get(channel="sms").conversation_id
    attachment = whatsapp.attachments.get()
    assert attachment.content_type == "image/jpeg" and attachment.file.read().startswith(b"\xff\xd8")


@pytest.mark.django_db
def test_reply_is_sent_through_twilio_and_callbacks_update_it(
    endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant
) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    run_pending()
    conversation = Message.objects.get().conversation
    reply = send_message(
        account=tenant.account, conversation=conversation, body="A plumber is on the way", sender_user=tenant.agent
    )
    assert deliver_message.run(tenant.account.pk, reply.pk) == "sent"
    [sent] = fake.sent
    assert (sent["To"], sent["From"], sent["Body"]) == ("+13125550188", "+13125550100", "A plumber is on the way")
    assert sent["StatusCallback"] == webhook_url(endpoint, "status")
    reply.refresh_from_db()
    assert reply.provider_id == sent["sid"]
    assert deliver_message.run(tenant.account.pk, reply.pk) == "nothing to do"  # idempotent

    post(endpoint, "status", fixture("status_delivered", SENT_SID=sent["sid"]))
    post(endpoint, "status", fixture("status_delivered", SENT_SID=sent["sid"]))  # a retry
    run_pending()
    reply.refresh_from_db()
    assert reply.delivery_status == "delivered"


@pytest.mark.django_db
def test_undelivered_callback_stores_a_readable_reason(
    endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant
) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    run_pending()
    reply = send_message(account=tenant.account, conversation=Message.objects.get().conversation, body="Hi")
    deliver_message.run(tenant.account.pk, reply.pk)
    post(endpoint, "status", fixture("status_undelivered", SENT_SID=fake.sent[0]["sid"]))
    run_pending()
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.error_code) == ("failed", "21614")
    assert reply.error_message == "The number is not a mobile number and cannot receive SMS."


@pytest.mark.django_db
def test_permanent_errors_fail_with_a_reason_and_busy_is_retried(
    endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant
) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    run_pending()
    conversation = Message.objects.get().conversation
    refused = send_message(account=tenant.account, conversation=conversation, body="one")
    fake.replies.append((400, 21610))
    assert deliver_message.run(tenant.account.pk, refused.pk) == "failed"
    refused.refresh_from_db()
    assert refused.error_code == "21610" and refused.error_message.startswith("The customer replied STOP")

    busy = send_message(account=tenant.account, conversation=conversation, body="two")
    fake.replies.append((429, 20429))
    result = deliver_message.apply(args=(tenant.account.pk, busy.pk))
    assert result.get() == "sent"  # retried after Twilio's 429
    assert [s["Body"] for s in fake.sent] == ["two"]


@pytest.mark.django_db
def test_stop_opts_out_and_nothing_is_sent(endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    post(
        endpoint, "messaging", {**fixture("sms_inbound"), "Body": "STOP", "MessageSid": "SMstop1", "SmsSid": "SMstop1"}
    )
    run_pending()
    assert ContactIdentity.objects.get().opted_out_at is not None
    first = Message.objects.order_by("id").first()
    assert first is not None
    with pytest.raises(ServiceError, match=r"opted out of SMS \(STOP\)"):  # a person is told up front
        send_message(account=tenant.account, conversation=first.conversation, body="Hello?")
    # and whatever else queues a reply (the AI, a playbook) is refused at delivery
    reply = send_message(account=tenant.account, conversation=first.conversation, body="Hello?", sender_type="ai")
    assert deliver_message.run(tenant.account.pk, reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.error_message.startswith("The customer opted out (STOP)")
    assert fake.sent == []


@pytest.mark.django_db
def test_the_sweeper_enqueues_events_the_broker_missed(endpoint: ChannelEndpoint, monkeypatch: Any) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    InboundEvent.objects.update(received_at=timezone.now() - timedelta(minutes=2))
    queued: list[int] = []
    monkeypatch.setattr(process_inbound_event, "delay", lambda pk: queued.append(pk))
    assert sweep_inbound_events.run() == 1
    assert queued == [InboundEvent.objects.get().pk]


@pytest.mark.django_db
def test_unknown_endpoint_is_404(endpoint: ChannelEndpoint) -> None:
    response = Client().post("/webhooks/twilio/00000000-0000-0000-0000-000000000000/messaging", {})
    assert response.status_code == 404


@pytest.mark.django_db
def test_admins_connect_a_number_and_get_the_webhook_urls(tenant: Tenant, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    inbox = InboxFactory(account=tenant.account, name="Support")
    url = f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints"
    body = {
        "inbox": inbox.pk,
        "kind": "sms",
        "address": "(312) 555-0100",
        "credentials": {"account_sid": SID, "auth_token": TOKEN},
    }
    assert tenant.client("agent").post(url, body, format="json").status_code == 403
    created = tenant.client().post(url, body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["address"] == "+13125550100" and data["credentials_set"] is True
    assert (
        data["webhook_urls"]["messaging"] == f"https://inbox.example.com/webhooks/twilio/{data['public_id']}/messaging"
    )
    assert TOKEN not in json.dumps(data)
    assert TOKEN not in ChannelEndpoint.objects.get().credentials_encrypted
    missing = tenant.client().post(url, {**body, "credentials": {"account_sid": SID}}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["fields"]["credentials"] == [
        "Twilio credentials need auth_token."
    ]
    fax = tenant.client().post(url, {**body, "kind": "fax"}, format="json")
    assert fax.status_code == 400 and "kind" in fax.json()["error"]["fields"]
    wrong = tenant.client().post(url, {**body, "provider": "mailgun"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["fields"]["provider"] == [
        "sms endpoints are connected through twilio."
    ]


@pytest.mark.django_db
def test_an_unreachable_twilio_ends_as_a_readable_failure(
    endpoint: ChannelEndpoint, tenant: Tenant, settings: Any
) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    run_pending()
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    reply = send_message(account=tenant.account, conversation=Message.objects.get().conversation, body="Hi")
    deliver_message.max_retries, saved = 1, deliver_message.max_retries
    try:
        assert deliver_message.apply(args=(tenant.account.pk, reply.pk)).get() == "failed"
    finally:
        deliver_message.max_retries = saved
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and reply.error_message.startswith("Could not reach Twilio after 2 tries")


def test_send_test_checks_credentials_and_number_with_twilio(
    endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant
) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints/{endpoint.pk}/test"
    response = tenant.client().post(url)
    assert response.status_code == 200
    assert "+13125550100 is not a number of that account" in response.json()["detail"]
    fake.numbers.add("+13125550100")
    assert "+13125550100 belongs to it" in tenant.client().post(url).json()["detail"]
    assert tenant.client("agent").post(url).status_code == 403

    endpoint.credentials_encrypted = credentials_encrypt({"account_sid": SID, "auth_token": "wrong"})
    endpoint.save()
    refused = tenant.client().post(url)
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["credentials"][0].startswith("Twilio refused these credentials")


@pytest.mark.django_db
def test_an_api_key_and_a_messaging_service_send_the_reply(
    endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant
) -> None:
    fake.api_keys["SK" + "1" * 32] = "api-key-secret"
    service = "MG" + "a" * 32
    api = tenant.client()
    url = f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints/{endpoint.pk}"
    half = api.patch(url, {"credentials": {"account_sid": SID, "auth_token": TOKEN, "api_key_sid": "x"}}, format="json")
    assert half.status_code == 400 and "API key" in half.json()["error"]["fields"]["credentials"][0]
    changed = api.patch(
        url,
        {
            "credentials": {
                "account_sid": SID,
                "auth_token": TOKEN,
                "api_key_sid": "SK" + "1" * 32,
                "api_key_secret": "api-key-secret",
            },
            "options": {"messaging_service_sid": service},
        },
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    post(endpoint, "messaging", fixture("sms_inbound"))
    run_pending()
    inbound = Message.objects.get(direction="in")
    reply = send_message(
        account=tenant.account, conversation=inbound.conversation, body="On our way", sender_user=tenant.admin
    )
    assert deliver_message.run(tenant.account.pk, reply.pk) == "sent"
    [sent] = fake.sent
    assert sent["MessagingServiceSid"] == service and "From" not in sent
    assert fake.auth_used[-1] == "SK" + "1" * 32
    # Webhooks are still signed with the auth token, and still accepted.
    assert post(endpoint, "status", fixture("status_delivered", SENT_SID=sent["sid"])).status_code == 200
    assert run_pending() == ["processed"]
    assert Message.objects.get(pk=reply.pk).delivery_status == "delivered"


@pytest.mark.django_db
def test_a_whatsapp_location_keeps_the_place_and_shows_a_map_link(
    endpoint: ChannelEndpoint, tenant: Tenant, client: Any
) -> None:
    post(endpoint, "messaging", fixture("whatsapp_location"))
    assert run_pending() == ["processed"]
    message = Message.objects.get()
    assert message.metadata["location"] == {
        "latitude": 41.878114,
        "longitude": -87.629798,
        "address": "233 S Wacker Dr, Chicago, IL 60606",
        "label": "Willis Tower",
    }
    assert message.body == "Shared a location: Willis Tower, 233 S Wacker Dr, Chicago, IL 60606"
    assert message.conversation.last_message_preview.startswith("Shared a location: Willis Tower")
    client.force_login(tenant.admin)
    thread = client.get(f"/a/{tenant.account.pk}/conversations/{message.conversation_id}/thread").content.decode()
    assert (
        'href="https://www.openstreetmap.org/?mlat=41.878114&amp;mlon=-87.629798#map=17/41.878114/-87.629798"' in thread
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"Latitude": "91", "Longitude": "10"}, None),  # off the globe
        ({"Latitude": "north", "Longitude": "10"}, None),
        (
            {"Latitude": "1.5", "Longitude": "2.25", "Label": "  The   shop \n"},
            {"latitude": 1.5, "longitude": 2.25, "label": "The shop"},
        ),
    ],
)
def test_a_location_is_kept_only_when_it_is_one(endpoint: ChannelEndpoint, fields: dict[str, str], kept: Any) -> None:
    payload = {k: v for k, v in fixture("whatsapp_location").items() if k not in ("Label", "Address")}
    post(endpoint, "messaging", {**payload, **fields})
    assert run_pending() == ["processed"]
    message = Message.objects.get()
    assert message.metadata.get("location") == kept
    assert message.body == ("" if kept is None else "Shared a location: The shop")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "code", "shown", "words"),
    [
        ("undelivered", "30003", "failed", "switched off or out of reach"),
        ("undelivered", "30005", "failed", "does not exist"),
        ("undelivered", "30006", "failed", "cannot receive texts"),
        ("undelivered", "30007", "failed", "filtered it as spam"),
        ("undelivered", "30008", "failed", "did not say why"),
        ("failed", "30034", "failed", "not registered for business texting"),
        ("failed", "21610", "failed", "replied STOP"),
        ("failed", "63016", "failed", "approved template"),
        ("undelivered", "39999", "failed", "Twilio error 39999."),
        ("canceled", "", "failed", "Canceled before it was sent"),
        ("partially_delivered", "", "delivered", "Only part of it reached the phone"),
    ],
)
def test_status_callbacks_are_explained_to_the_agent(
    endpoint: ChannelEndpoint, fake: FakeTwilio, tenant: Tenant, status: str, code: str, shown: str, words: str
) -> None:
    post(endpoint, "messaging", fixture("sms_inbound"))
    run_pending()
    reply = send_message(account=tenant.account, conversation=Message.objects.get().conversation, body="Hi")
    deliver_message.run(tenant.account.pk, reply.pk)
    callback = fixture("status_undelivered", SENT_SID=fake.sent[0]["sid"])
    post(endpoint, "status", {**callback, "MessageStatus": status, "SmsStatus": status, "ErrorCode": code})
    assert run_pending() == ["processed"]
    reply.refresh_from_db()
    assert reply.delivery_status == shown and reply.error_code == code
    assert words in reply.error_message
    from django.template.loader import render_to_string

    shown_html = render_to_string("web/_message.html", {"m": reply, "conversation": reply.conversation,
                                                         "account": tenant.account})  # fmt: skip
    assert words.split(" (")[0] in shown_html.replace("&#x27;", "'")

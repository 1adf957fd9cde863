"""Twilio Voice, signed as Twilio signs: the TwiML answer, the call, its recording and transcript on the caller's
conversation, the outcome as an activity line, and an agent's call back through calls.create."""

from __future__ import annotations

from typing import Any

import pytest

from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import deliver_message
from contacts.models import Contact
from contacts.services import contact_resolve
from inbox.models import Message
from inbox.services import receive_message
from tests.channels_app.test_twilio import endpoint, fake, fixture, post, run_pending  # noqa: F401
from tests.conftest import Tenant
from tests.fakes.twilio_server import FakeTwilio

CALL_SID = "CA5f0e1d2c3b4a59687766554433221100"


@pytest.fixture
def line(endpoint: ChannelEndpoint) -> ChannelEndpoint:  # noqa: F811
    """The same Twilio number, connected for calls."""
    return ChannelEndpoint.objects.create(
        account=endpoint.account,
        inbox=endpoint.inbox,
        kind="voice",
        address=endpoint.address,
        credentials_encrypted=endpoint.credentials_encrypted,
        options={"greeting": "Thanks for calling Northwind Plumbing."},
    )


@pytest.mark.django_db
def test_a_call_is_answered_recorded_transcribed_and_logged(
    tenant: Tenant,
    line: ChannelEndpoint,
    fake: FakeTwilio,  # noqa: F811
    settings: Any,
    tmp_path: Any,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    assert post(line, "voice", fixture("voice_inbound"), signature="forged").status_code == 403
    assert not InboundEvent.objects.exists()

    answer = post(line, "voice", fixture("voice_inbound"))
    assert answer.status_code == 200 and answer["Content-Type"] == "text/xml"
    twiml = answer.content.decode()
    assert "<Say>Thanks for calling Northwind Plumbing. Please leave your name" in twiml
    assert 'transcribe="true"' in twiml
    assert f'transcribeCallback="https://inbox.example.com/webhooks/twilio/{line.public_id}/transcription"' in twiml
    assert f'recordingStatusCallback="https://inbox.example.com/webhooks/twilio/{line.public_id}/recording"' in twiml
    post(line, "voice", fixture("voice_inbound"))  # Twilio's retry: the same call once
    # Record's action says the recording ended; the recording callback brings it, so nothing is stored here.
    goodbye = post(line, "gather", fixture("voice_call_completed"))
    assert "<Hangup" in goodbye.content.decode()
    assert run_pending() == ["processed"]
    call = Message.objects.get(provider_id=CALL_SID)
    assert (call.channel, call.direction, call.body, call.metadata["call"]) == ("voice", "in", "", "inbound")
    assert call.contact.identities.get().value == "+13125550188"

    post(line, "recording", fixture("voice_recording", MEDIA_BASE=fake.url))
    post(line, "transcription", fixture("voice_transcription", MEDIA_BASE=fake.url))
    post(line, "call", fixture("voice_call_completed"))
    post(line, "call", fixture("voice_call_completed"))  # a retry
    assert run_pending() == ["processed", "processed", "processed"]

    recording = call.attachments.get()
    assert recording.content_type == "audio/mpeg" and recording.filename == "voicemail-14s.mp3"
    transcript = Message.objects.get(channel="voice", metadata__call="transcript")
    assert transcript.conversation_id == call.conversation_id
    assert transcript.body.startswith("Hi this is Rosa Diaz calling about the leak")
    outcome = Message.objects.get(conversation=call.conversation, kind="activity")
    assert outcome.body == "Call ended after 0 min 38 s."

    # In the console: the call, its voicemail as a player, and the transcript.
    from django.test import Client

    console = Client()
    console.force_login(tenant.admin)
    page = console.get(f"/a/{call.account_id}/conversations/{call.conversation_id}/").content.decode()
    assert "Incoming call from +13125550188" in page and '<audio class="attachment-audio" controls' in page
    assert "Voicemail, transcribed:" in page


@pytest.mark.django_db
def test_gather_mode_takes_what_the_caller_says(line: ChannelEndpoint) -> None:
    ChannelEndpoint.objects.filter(pk=line.pk).update(options={"voice_mode": "gather"})
    line.refresh_from_db()
    twiml = post(line, "voice", fixture("voice_inbound")).content.decode()
    assert '<Gather action="https://inbox.example.com/webhooks/twilio/' in twiml and 'input="speech"' in twiml
    post(line, "gather", fixture("voice_gather"))
    assert run_pending() == ["processed", "processed"]
    said = Message.objects.get(metadata__call="speech")
    assert said.body == "My order ORD-55120 arrived damaged and I need a replacement."
    assert said.conversation_id == Message.objects.get(provider_id=CALL_SID).conversation_id


@pytest.mark.django_db
def test_an_agent_calls_the_customer_back(
    line: ChannelEndpoint,
    fake: FakeTwilio,  # noqa: F811
    tenant: Tenant,
) -> None:
    contact = contact_resolve(account=tenant.account, kind="phone", raw_address="+13125550188", name="Rosa Diaz")
    first = receive_message(account=tenant.account, inbox=line.inbox, contact=contact, channel="sms", body="Leak!")
    url = f"/api/v1/accounts/{tenant.account.pk}/conversations/{first.conversation_id}"
    api = tenant.client("admin")

    written = api.post(f"{url}/messages", {"body": "hello", "channel": "voice"}, format="json")
    assert written.status_code == 400 and "channel" in written.json()["error"]["fields"]
    bad = api.post(f"{url}/call", {"agent_phone": "12"}, format="json")
    assert bad.status_code == 400 and "agent_phone" in bad.json()["error"]["fields"]

    started = api.post(f"{url}/call", {"agent_phone": "(312) 555-0199"}, format="json")
    assert started.status_code == 201, started.json()
    call = Message.objects.get(pk=started.json()["id"])
    assert (
        call.channel == "voice" and call.direction == "out" and call.body.startswith("Call to +13125550188, started by")
    )
    assert deliver_message.run(tenant.account.pk, call.pk) == "calling"
    [placed] = fake.calls
    assert placed["To"] == "+13125550199" and placed["From"] == "+13125550100"
    assert '<Dial callerId="+13125550100"' in placed["Twiml"] and "<Number>+13125550188</Number>" in placed["Twiml"]
    assert placed["StatusCallback"].endswith(f"/webhooks/twilio/{line.public_id}/call")
    call.refresh_from_db()
    assert call.delivery_status == "sent"

    missed = fixture("voice_call_completed", **{CALL_SID: call.provider_id})
    missed.update(CallStatus="no-answer", CallDuration="0", Direction="outbound-api")
    post(line, "call", missed)
    assert run_pending() == ["processed"]
    call.refresh_from_db()
    assert call.delivery_status == "failed" and call.error_message == "Call not connected: nobody answered."
    assert Message.objects.filter(conversation=call.conversation, kind="activity", body=call.error_message).exists()
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_admins_connect_a_phone_line_and_get_its_urls(tenant: Tenant, settings: Any) -> None:
    from tests.factories import InboxFactory

    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    inbox = InboxFactory(account=tenant.account, name="Calls")
    created = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {
            "inbox": inbox.pk,
            "kind": "voice",
            "address": "+1 312 555 0100",
            "credentials": {"account_sid": "AC" + "a" * 32, "auth_token": "t" * 32},
            "options": {"voice_mode": "gather", "greeting": "Hi, Northwind here."},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    base = f"https://inbox.example.com/webhooks/twilio/{body['public_id']}"
    assert body["webhook_urls"] == {"voice": f"{base}/voice", "call_status": f"{base}/call"}
    assert body["options"] == {"voice_mode": "gather", "greeting": "Hi, Northwind here."}

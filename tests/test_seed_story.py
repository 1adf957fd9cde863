"""The product's story, end to end, through the real channels and a real Celery worker: after hours a customer
writes on the webchat widget; the AI greets her, collects her details one question at a time and hands off with
a summary; the next morning she texts from the number she gave; the person sees the handoff, the note, the
sentiment and the facts in the console, and replies by SMS. Nobody asks her anything twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from ai_agent.models import AgentSettings
from channels_app import webchat
from channels_app.adapters.twilio import webhook_url
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from inbox.models import Message
from inbox.services import inbox_member_add
from memory.models import AiNote, Handoff
from memory.selectors import recall
from tests.conftest import PUBLIC_BASE as BASE
from tests.conftest import WORKER_TWILIO, Tenant, wait_until
from tests.factories import InboxFactory, define_policy_number, online
from tests.fakes.twilio_server import FakeTwilio

SID, TOKEN = WORKER_TWILIO
SITE = "https://www.northwind.example"
MAIL_SECRET = "mail-webhook-secret-for-the-story"
NEVER_OPEN = {"mon": [["00:00", "00:01"]]}  # the team is (almost) never in: the AI answers


def widget(endpoint: ChannelEndpoint, path: str, body: dict[str, Any], session: str = "") -> dict[str, Any]:
    headers = {"HTTP_ORIGIN": SITE, **({"HTTP_AUTHORIZATION": f"Bearer {session}"} if session else {})}
    response = Client().post(f"/webchat/{endpoint.address}/{path}", json.dumps(body), "application/json", **headers)
    assert response.status_code == 200, response.content
    return dict(response.json())


def ai_lines(conversation_id: int) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, sender_type="ai")
        .order_by("id")
        .values_list("body", flat=True)
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_after_hours_webchat_then_morning_sms_then_a_person_replies(
    fake_twilio_for_worker: FakeTwilio, celery_worker_process: Any, tenant: Tenant
) -> None:
    support = InboxFactory(account=tenant.account, name="Support", business_hours=NEVER_OPEN)
    inbox_member_add(account=tenant.account, actor=None, inbox=support, user=tenant.agent)
    define_policy_number(tenant.account, tenant.admin, support)
    AgentSettings.objects.create(account=tenant.account, inbox=support, enabled=True, persona_name="Ava")
    online(tenant.account, tenant.agent)  # the agent's console is open: the handoff is theirs
    chat = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=support,
        kind="webchat",
        provider="widget",
        address=webchat.new_widget_token(),
        options={"allowed_origins": [SITE]},
    )
    sms = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=support,
        kind="sms",
        address="+13125550100",
        credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
    )

    # Late evening, on the website.
    session = widget(chat, "session", {})["session"]
    first = widget(chat, "messages", {"body": "Hi, water is dripping from my ceiling", "client_id": "1"}, session)
    conversation_id = Message.objects.get(pk=first["message"]["id"]).conversation_id
    first_contact_id = Message.objects.get(pk=first["message"]["id"]).contact_id
    wait_until(lambda: ai_lines(conversation_id), what="the AI's greeting and first question")
    assert ai_lines(conversation_id)[0].startswith("Hi! I'm Ava")
    details = "Rosa Diaz, policy PN-55321, call me on 312 555 0188 or write to rosa.diaz@example.org"
    widget(chat, "messages", {"body": details, "client_id": "2"}, session)
    handoff = wait_until(
        lambda: Handoff.objects.filter(conversation_id=conversation_id).first(), what="the AI's handoff"
    )
    assert handoff.to_user == tenant.agent
    assert {"policy_number", "phone", "name"} <= set(handoff.what_was_done["facts_collected"])
    summary = handoff.what_was_done["summary"]
    assert summary.startswith("Rosa Diaz wrote on Webchat. Need: Hi, water is dripping from my ceiling") and (
        "Policy number PN-55321" in summary
    )
    # The widget shows the AI's lines as they come.
    history = widget(chat, "session", {"session": session})["messages"]
    assert [m["sender_type"] for m in history].count("ai") == len(ai_lines(conversation_id))
    assert {m["sender_name"] for m in history if m["sender_type"] == "ai"} == {"Ava"}

    # Next morning, by SMS from the number she gave.
    payload = json.loads((Path(__file__).parent / "fixtures" / "twilio" / "sms_inbound.json").read_text())
    payload["Body"] = "Any news? It's getting worse"
    url = webhook_url(sms, "messaging")
    signature = RequestValidator(TOKEN).compute_signature(url, payload)
    assert Client().post(url.removeprefix(BASE), payload, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    morning = wait_until(lambda: Message.objects.filter(channel="sms").first(), what="the morning SMS")
    # A number typed into a chat proves nothing: the text starts as its own record, and the AI, seeing that the
    # chat gave this number, asks nothing and hands it to the team with the match.
    assert morning.conversation_id != conversation_id and morning.contact_id != first_contact_id
    match = wait_until(
        lambda: Handoff.objects.filter(conversation_id=morning.conversation_id).first(), what="the AI's match handoff"
    )
    assert match.reason.startswith("Probably Rosa Diaz, who gave +13125550188 as their phone before")
    wait_until(lambda: morning.contact.sentiment_readings.filter(message=morning).exists(), what="the SMS to be read")
    console = Client()
    console.force_login(tenant.agent)
    sms_page = console.get(f"/a/{tenant.account.pk}/conversations/{morning.conversation_id}/").content.decode()
    assert "Same person?" in sms_page and "Review and merge" in sms_page
    preview = console.get(f"/a/{tenant.account.pk}/contacts/{first_contact_id}/merge/{morning.contact_id}/")
    assert preview.status_code == 200
    merged = tenant.client("agent").post(
        f"/api/v1/accounts/{tenant.account.pk}/contacts/{first_contact_id}/merge",
        {"drop": morning.contact_id},
        format="json",
    )
    assert merged.status_code == 200, merged.json()
    morning.refresh_from_db()
    assert morning.conversation_id == conversation_id and morning.contact_id == first_contact_id
    wait_until(
        lambda: AiNote.objects.filter(
            conversation_id=conversation_id, is_current=True, need__contains="ceiling"
        ).exists(),
        what="the conversation's note",
    )

    # The person opens the conversation: handoff, note, sentiment and facts are in front of them.
    page = console.get(f"/a/{tenant.account.pk}/conversations/{conversation_id}/").content.decode()
    for shown in ("PN-55321", "+13125550188", "Rosa Diaz", handoff.reason, "ceiling", "Collected: "):
        assert shown in page, shown
    memory = recall(account=tenant.account, contact=morning.contact, inbox=support)
    assert memory.missing == [] and memory.sentiment.readings == 3 and memory.handoffs

    # ... and replies by SMS; the worker delivers it to Twilio.
    reply = tenant.client("agent").post(
        f"/api/v1/accounts/{tenant.account.pk}/conversations/{conversation_id}/messages",
        {"body": "Morning Rosa, a plumber can be there at 10.", "channel": "sms"},
        format="json",
    )
    assert reply.status_code == 201, reply.json()
    wait_until(
        lambda: any(s.get("Body", "").startswith("Morning Rosa") for s in fake_twilio_for_worker.sent),
        what="the SMS at Twilio",
    )
    # Nobody asked twice: each question the AI asked is asked once, and nothing she gave was asked for.
    questions = [line for line in ai_lines(conversation_id) if "?" in line]
    assert len(questions) == len(set(questions)) == 1 and "policy number" in questions[0].lower()

    # A week later she writes by email, from the address she gave in the chat: a new record again (an address
    # typed into a chat proves nothing), and again the AI asks her nothing it was told: it hands the email to the
    # team with the match.
    mailbox = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=support,
        kind="email",
        provider="mime",
        address="support@northwind.test",
        credentials_encrypted=credentials_encrypt({"webhook_secret": MAIL_SECRET}),
    )
    mime = (
        b"From: Rosa Diaz <rosa.diaz@example.org>\r\nTo: support@northwind.test\r\nSubject: Ceiling\r\n"
        b"Message-ID: <week-later@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hello again, the stain on the ceiling is back. Can someone come this week?\r\n"
    )
    posted = Client().post(
        f"/webhooks/email/{mailbox.public_id}/mime", mime, "message/rfc822", HTTP_X_WEBHOOK_SECRET=MAIL_SECRET
    )
    assert posted.status_code == 200
    mail = wait_until(lambda: Message.objects.filter(channel="email").first(), what="the email")
    match = wait_until(
        lambda: Handoff.objects.filter(conversation_id=mail.conversation_id).first(), what="the email's match handoff"
    )
    assert "rosa.diaz@example.org" in match.reason
    # Across the whole story — webchat, SMS, email — the AI asked once, for the one thing she had not given yet.
    asked = [
        line
        for line in Message.objects.filter(account=tenant.account, sender_type="ai").values_list("body", flat=True)
        if "?" in line
    ]
    known = ("name", "phone", "number to reach", "email", "policy")
    assert sum(1 for line in asked if any(word in line.lower() for word in known)) == 1, asked

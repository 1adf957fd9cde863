"""No mail loops: bounces, auto-replies and list mail are kept in the thread but never answered by the AI nor
learned from, and every email the product sends on its own carries `Auto-Submitted: auto-replied`."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

import ai_agent.tasks
from ai_agent.models import AgentSettings
from channels_app.tasks import deliver_message
from inbox.models import Message
from inbox.services import send_message
from memory.models import Fact, SentimentReading
from tests.channels_app.test_email import make_endpoint, run_pending
from tests.channels_app.test_lossless import mime, post_mime
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

PERSON = "From: Maria Lopez <maria@example.org>\r\nTo: support@northwind.test\r\nMessage-ID: <p1@example.org>"
MACHINES = {
    "auto-submitted": PERSON.replace("p1@", "a1@") + "\r\nAuto-Submitted: auto-replied",
    "out of office": PERSON.replace("p1@", "a2@") + "\r\nX-Autoreply: yes\r\nPrecedence: auto_reply",
    "bounce": "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>\r\nTo: support@northwind.test\r\n"
    "Message-ID: <b1@mx.example.org>\r\nReturn-Path: <>",
    "list": PERSON.replace("p1@", "l1@") + "\r\nList-Id: <news.example.org>\r\nPrecedence: list",
}
BOUNCE_TEXT = b"Delivery to 203.0.113.45 failed for maria@example.org; call 312 555 0188 to say my name is Dana."


@pytest.fixture
def answering(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    turns: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ai_agent.tasks.run_agent_turn, "delay", lambda *args: turns.append(args))
    return turns


@pytest.mark.parametrize("kind", sorted(MACHINES))
def test_machine_mail_is_kept_but_never_answered_nor_learned_from(
    tenant: Tenant, answering: list[tuple[Any, ...]], kind: str
) -> None:
    endpoint = make_endpoint(tenant, "mime")
    AgentSettings.objects.create(account=tenant.account, inbox=endpoint.inbox, enabled=True, answer_mode="always")
    post_mime(endpoint, mime(headers=MACHINES[kind], body=BOUNCE_TEXT))
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert message.metadata["automated"]  # kept, with the reason it is not a person's
    assert ai_agent.tasks.analyze_message.run(tenant.account.pk, message.pk) == "automated"
    assert answering == []
    assert not Fact.objects.exists() and not SentimentReading.objects.exists()


def test_a_persons_email_is_answered_and_the_ai_reply_says_it_is_automatic(
    tenant: Tenant, answering: list[tuple[Any, ...]], settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    endpoint = make_endpoint(tenant, "mime")
    AgentSettings.objects.create(account=tenant.account, inbox=endpoint.inbox, enabled=True, answer_mode="always")
    post_mime(endpoint, mime(headers=PERSON, body=b"Where is my order?"))
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert "automated" not in message.metadata
    assert ai_agent.tasks.analyze_message.run(tenant.account.pk, message.pk) == "analyzed"
    assert len(answering) == 1
    ai_reply = send_message(
        account=tenant.account, conversation=message.conversation, body="It ships today.", sender_type="ai"
    )
    person_reply = send_message(
        account=tenant.account, conversation=message.conversation, body="Tracking below.", sender_user=tenant.agent
    )
    assert deliver_message.run(tenant.account.pk, ai_reply.pk) == "sent"
    assert deliver_message.run(tenant.account.pk, person_reply.pk) == "sent"
    automatic, personal = mail.outbox
    assert automatic.extra_headers["Auto-Submitted"] == "auto-replied"
    assert "Auto-Submitted" not in personal.extra_headers

"""The inbox core's writes: conversations found, reopened or started; idempotent receipt; replies and notes;
signals and realtime events strictly after commit; attachments checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.errors import ServiceError, TooLarge
from contacts.models import Contact
from contacts.services import contact_merge, contact_resolve
from inbox import events
from inbox.attachments import IncomingFile
from inbox.models import Attachment, Conversation, Message
from inbox.services import conversation_set_status, receive_message, send_message
from inbox.signals import message_queued, message_received
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "_send", lambda account_id, inbox_id, event: sent.append(event))
    return sent


@pytest.fixture
def signals() -> Any:
    received: list[tuple[str, int]] = []

    def on_received(sender: Any, account_id: int, message_id: int, **kwargs: Any) -> None:
        received.append(("received", message_id))

    def on_queued(sender: Any, account_id: int, message_id: int, **kwargs: Any) -> None:
        received.append(("queued", message_id))

    message_received.connect(on_received)
    message_queued.connect(on_queued)
    yield received
    message_received.disconnect(on_received)
    message_queued.disconnect(on_queued)


def test_messages_continue_one_conversation_across_channels(
    tenant: Tenant, django_capture_on_commit_callbacks: Any, published: list[dict[str, Any]], signals: Any
) -> None:
    inbox = InboxFactory(account=tenant.account, name="Support")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = inbound(tenant.account, inbox, "(555) 123-4567", "My sink is leaking")
        assert published == [] and signals == []  # nothing leaves before commit
    for callback in callbacks:
        callback()
    assert [e["type"] for e in published] == ["message.created", "conversation.updated"]
    assert signals == [("received", first.pk)]

    with django_capture_on_commit_callbacks(execute=True):
        second = inbound(tenant.account, inbox, "+15551234567", "Photo attached", kind="whatsapp", channel="whatsapp")
    assert second.conversation_id == first.conversation_id
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.active_channel == "whatsapp"
    assert conversation.number == 1
    assert conversation.last_message_preview == "Photo attached"


def test_provider_retries_are_no_ops(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    one = inbound(tenant.account, inbox, body="hi", provider_endpoint="ep-1", provider_id="SM123")
    two = inbound(tenant.account, inbox, body="hi", provider_endpoint="ep-1", provider_id="SM123")
    assert one.pk == two.pk
    assert Message.objects.count() == 1


def test_resolved_conversation_reopens_within_the_window_only(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account, reopen_window_hours=24)
    first = inbound(tenant.account, inbox, body="hi")
    conversation_set_status(
        account=tenant.account, actor=tenant.admin, conversation=first.conversation, status="resolved"
    )
    again = inbound(tenant.account, inbox, body="one more thing")
    assert again.conversation_id == first.conversation_id
    reopened = Conversation.objects.get(pk=first.conversation_id)
    assert reopened.status == "live" and reopened.resolved_at is None

    conversation_set_status(account=tenant.account, actor=tenant.admin, conversation=reopened, status="resolved")
    Conversation.objects.filter(pk=reopened.pk).update(resolved_at=timezone.now() - timedelta(hours=25))
    later = inbound(tenant.account, inbox, body="new problem")
    assert later.conversation_id != first.conversation_id
    assert later.conversation.number == 2


def test_conversations_are_per_inbox(tenant: Tenant) -> None:
    sales, billing = InboxFactory(account=tenant.account), InboxFactory(account=tenant.account)
    a = inbound(tenant.account, sales, body="quote please")
    b = inbound(tenant.account, billing, body="invoice question")
    assert a.contact_id == b.contact_id
    assert a.conversation_id != b.conversation_id


def test_reply_queues_and_signals_after_commit_note_does_not(
    tenant: Tenant, django_capture_on_commit_callbacks: Any, signals: Any, published: list[dict[str, Any]]
) -> None:
    inbox = InboxFactory(account=tenant.account)
    first = inbound(tenant.account, inbox, body="hi")
    with django_capture_on_commit_callbacks(execute=True):
        reply = send_message(
            account=tenant.account, conversation=first.conversation, body="On our way", sender_user=tenant.agent
        )
        note = send_message(
            account=tenant.account,
            conversation=first.conversation,
            body="VIP customer",
            kind="note",
            sender_user=tenant.agent,
        )
    assert reply.delivery_status == "queued" and reply.channel == "sms" and reply.direction == "out"
    assert note.channel == "internal" and note.delivery_status == ""
    assert ("queued", reply.pk) in signals and ("queued", note.pk) not in signals
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.status == "waiting"  # answered: waiting on the customer
    assert conversation.last_message_preview == "On our way"  # a note is not a preview
    inbound(tenant.account, inbox, body="thanks!")
    assert Conversation.objects.get(pk=first.conversation_id).status == "live"


def test_reply_needs_content_and_a_real_channel(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    conversation = inbound(tenant.account, inbox).conversation
    with pytest.raises(ServiceError, match="Write something"):
        send_message(account=tenant.account, conversation=conversation, body="  ")
    with pytest.raises(ServiceError, match="Choose a channel"):
        send_message(account=tenant.account, conversation=conversation, body="x", channel="pigeon")


@override_settings(ATTACHMENT_MAX_BYTES=1000)
def test_attachments_are_checked_and_stored(tenant: Tenant, tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    inbox = InboxFactory(account=tenant.account)
    message = inbound(
        tenant.account,
        inbox,
        body="",
        attachments=[IncomingFile.from_bytes("leak.jpg", b"\xff\xd8" + b"0" * 100, "image/jpeg")],
    )
    attachment = Attachment.objects.get(message=message)
    assert attachment.size == 102 and attachment.content_type == "image/jpeg"
    assert attachment.file.read().startswith(b"\xff\xd8")
    assert message.conversation.last_message_preview == "[leak.jpg]"

    with pytest.raises(TooLarge, match="attachments may be at most"):
        inbound(tenant.account, inbox, attachments=[IncomingFile.from_bytes("big.png", b"0" * 2000, "image/png")])
    with pytest.raises(ServiceError, match="files of type application/x-msdownload cannot be attached"):
        inbound(
            tenant.account, inbox, attachments=[IncomingFile.from_bytes("x.exe", b"MZ", "application/x-msdownload")]
        )


def test_merge_moves_everything_and_keeps_a_pointer(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    sms = inbound(tenant.account, inbox, "+15551230001", "texted first", name="Sam")
    mail = inbound(tenant.account, inbox, "sam@example.com", "then emailed", kind="email", channel="email")
    keep, drop = sms.contact, mail.contact
    assert keep.pk != drop.pk
    contact_merge(account=tenant.account, actor=tenant.admin, keep=keep, drop=drop)
    said = Message.objects.filter(contact=keep, kind="message")
    assert set(said.values_list("body", flat=True)) == {"texted first", "then emailed"}
    assert Conversation.objects.filter(contact=drop).count() == 0
    # their open conversations of this inbox became one: the older continues, its thread shows both
    assert set(said.values_list("conversation_id", flat=True)) == {sms.conversation_id}
    assert Conversation.objects.get(pk=mail.conversation_id).merged_into_id == sms.conversation_id
    assert sorted(keep.identities.values_list("kind", flat=True)) == ["email", "phone"]
    dropped = Contact.objects.get(pk=drop.pk)
    assert dropped.merged_into_id == keep.pk and dropped.merged_by == tenant.admin
    # the dropped contact's address now resolves to the kept one
    assert contact_resolve(account=tenant.account, kind="email", raw_address="sam@example.com").pk == keep.pk
    # and a provider still holding the dropped contact lands on the kept one
    late = receive_message(account=tenant.account, inbox=inbox, contact=dropped, channel="email", body="late")
    assert late.contact_id == keep.pk and late.conversation_id == sms.conversation_id
    with pytest.raises(ServiceError, match="already merged"):
        contact_merge(account=tenant.account, actor=tenant.admin, keep=keep, drop=dropped)


@pytest.mark.django_db
def test_a_persons_reply_takes_the_conversation_from_the_ai(tenant: Tenant) -> None:
    from inbox.services import send_message
    from tests.factories import InboxFactory, ai_on, inbound

    inbox = InboxFactory(account=tenant.account)
    ai_on(tenant.account, inbox)
    message = inbound(tenant.account, inbox, "+15550100300", "Hello?")
    assert message.conversation.handled_by == "ai"
    send_message(
        account=tenant.account, conversation=message.conversation, body="Private", kind="note", sender_user=tenant.agent
    )
    message.conversation.refresh_from_db()
    assert message.conversation.handled_by == "ai"  # a private note does not
    reply = send_message(
        account=tenant.account, conversation=message.conversation, body="Hi, Dana here.", sender_user=tenant.agent
    )
    message.conversation.refresh_from_db()
    assert (message.conversation.handled_by, message.conversation.assignee_id) == ("human", tenant.agent.pk)
    assert reply.conversation_handled_by == "human"
    assert message.conversation.messages.filter(kind="activity", body__contains="took over from the AI agent").exists()

"""A team's own mailbox over IMAP, against a real IMAP server (Dovecot on 127.0.0.1): connected with an app password
(encrypted at rest), polled with UIDs remembered so nothing is read twice or missed (a renumbered folder included),
each email processed like any inbound email, and replies kept in the mailbox's Sent folder."""

from __future__ import annotations

import base64
import imaplib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail

from channels_app.credentials import credentials_get
from channels_app.mailboxes import mailbox_poll, poll_all, watch
from channels_app.models import ChannelEndpoint, InboundEvent, MailboxCursor
from channels_app.tasks import deliver_message, process_inbound_event
from inbox.models import Message
from inbox.services import send_message
from tests.conftest import Tenant, wait_until
from tests.factories import InboxFactory
from tests.fakes.dovecot import Dovecot, dovecot_binary

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        dovecot_binary() is None and not os.environ.get("CONTINUUM_REQUIRE_DOVECOT"),
        reason="dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)",
    ),
]
USER, PASSWORD = "support@northwind.example.com", "app-password-0123"


def email(n: int, *, subject: str = "", in_reply_to: str = "") -> bytes:
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: Maria Lopez <maria@example.org>\r\nTo: {USER}\r\nSubject: {subject or f'Question {n}'}\r\n"
        f"Message-ID: <q{n}@example.org>\r\n{thread}Date: Wed, 2 Dec 2026 10:0{n % 10}:00 +0000\r\n\r\n"
        f"Question number {n}: is the part in stock?\r\n"
    ).encode()


@pytest.fixture
def server() -> Iterator[Dovecot]:
    with Dovecot({USER: PASSWORD}) as running:
        yield running


@pytest.fixture
def mailbox(tenant: Tenant, server: Dovecot, settings: Any) -> ChannelEndpoint:
    settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = [f"127.0.0.1:{server.port}"]  # the test server is local
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    answer = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {
            "inbox": InboxFactory(account=tenant.account, name="Mailbox").pk, "kind": "email", "provider": "imap",
            "address": USER,
            "credentials": {"imap_host": "127.0.0.1", "imap_port": str(server.port), "imap_security": "none",
                            "username": USER, "password": PASSWORD},
        },
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.json()
    assert answer.json()["webhook_urls"] == {}
    return ChannelEndpoint.objects.get(pk=answer.json()["id"])


def processed() -> list[str]:
    return [
        process_inbound_event.run(pk)
        for pk in InboundEvent.objects.filter(status="pending").values_list("pk", flat=True)
    ]


def test_a_mailbox_is_read_from_connection_on_once_each_and_replies_are_kept_in_sent(
    tenant: Tenant, server: Dovecot, mailbox: ChannelEndpoint
) -> None:
    assert "app-password" not in mailbox.credentials_encrypted  # encrypted at rest
    assert credentials_get(mailbox)["password"] == PASSWORD
    server.deliver(USER, email(1))  # there before the mailbox was connected: history stays in the mail client
    assert mailbox_poll(mailbox) == 0
    server.deliver(USER, email(2))
    server.deliver(USER, email(3))
    assert mailbox_poll(mailbox) == 2
    assert mailbox_poll(mailbox) == 0  # nothing read twice
    assert processed() == ["processed", "processed"]
    bodies = list(Message.objects.filter(channel="email").order_by("id").values_list("body", flat=True))
    assert bodies == ["Question number 2: is the part in stock?", "Question number 3: is the part in stock?"]
    cursor = MailboxCursor.objects.get(endpoint=mailbox)
    assert cursor.taken == 2 and cursor.error == "" and cursor.last_uid == 3
    # the emails are still unread in the team's mail client (read with BODY.PEEK)
    connection = server.client(USER)
    connection.select("INBOX", readonly=True)
    assert connection.uid("SEARCH", "UNSEEN")[1][0].split() == [b"1", b"2", b"3"]
    connection.logout()

    # the reply goes out and a copy lands in the mailbox's Sent folder, threaded
    customer = Message.objects.filter(channel="email").order_by("id").last()
    assert customer is not None
    reply = send_message(account=tenant.account, conversation=customer.conversation, body="Yes, two in stock.",
                         sender_user=tenant.admin)  # fmt: skip
    assert deliver_message.run(tenant.account.pk, reply.pk) == "sent"
    assert mail.outbox[-1].to == ["maria@example.org"]
    [kept] = server.messages(USER, "Sent")
    assert b"Yes, two in stock." in kept and b"In-Reply-To: <q3@example.org>" in kept
    # the customer answers: read from the mailbox, it continues the same conversation
    reply.refresh_from_db()
    server.deliver(USER, email(4, subject="Re: Question 3", in_reply_to=reply.provider_id))
    assert poll_all() == {"mailboxes": 1, "emails": 1, "failed": 0}
    processed()
    answer = Message.objects.filter(channel="email", direction="in").order_by("id").last()
    assert answer is not None and answer.conversation_id == customer.conversation_id


def test_a_renumbered_folder_is_read_again_without_doubles(server: Dovecot, mailbox: ChannelEndpoint) -> None:
    mailbox_poll(mailbox)
    server.deliver(USER, email(1))
    assert mailbox_poll(mailbox) == 1
    # the server rebuilt the folder: a new UIDVALIDITY; the cursor's UID means nothing there any more
    MailboxCursor.objects.filter(endpoint=mailbox).update(uidvalidity=1, last_uid=999)
    server.deliver(USER, email(2))
    assert mailbox_poll(mailbox) == 1  # the new one taken, the one read before not stored again
    assert InboundEvent.objects.filter(endpoint=mailbox).count() == 2
    # old history is not imported by a renumbering: only mail since the day before the last read
    connection = server.client(USER)
    connection.append("INBOX", None, imaplib.Time2Internaldate(time.time() - 30 * 86400), email(3))
    connection.logout()
    MailboxCursor.objects.filter(endpoint=mailbox).update(uidvalidity=2, last_uid=999)
    assert mailbox_poll(mailbox) == 0
    assert InboundEvent.objects.filter(endpoint=mailbox).count() == 2


def test_a_wrong_password_or_a_server_inside_is_refused_in_words(
    tenant: Tenant, server: Dovecot, mailbox: ChannelEndpoint, settings: Any
) -> None:
    checked = tenant.client("admin").post(f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints/{mailbox.pk}/test")
    assert checked.status_code == 200 and "Logged in to the mailbox" in checked.json()["detail"]
    assert "Sent" in checked.json()["detail"] and "IDLE" in checked.json()["detail"]
    from channels_app.credentials import credentials_encrypt

    ChannelEndpoint.objects.filter(pk=mailbox.pk).update(
        credentials_encrypted=credentials_encrypt({**credentials_get(mailbox), "password": "wrong"})
    )
    mailbox.refresh_from_db()
    refused = tenant.client("admin").post(f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints/{mailbox.pk}/test")
    assert refused.status_code == 400 and "refused the login" in refused.json()["error"]["message"]
    assert poll_all()["failed"] == 1
    assert "refused the login" in MailboxCursor.objects.get(endpoint=mailbox).error
    # the operator did not allow this host: a mailbox on an internal address is refused when saved and when used
    settings.OUTBOUND_ALLOWED_INTERNAL_HOSTS = []
    inside = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/channel-endpoints",
        {"inbox": mailbox.inbox_id, "kind": "email", "provider": "imap", "address": "other@northwind.example.com",
         "credentials": {"imap_host": "127.0.0.1", "imap_port": "993", "username": "u", "password": "p"}},
        format="json",
    )  # fmt: skip
    assert inside.status_code == 400 and "not a public address" in inside.json()["error"]["fields"]["credentials"][0]
    with pytest.raises(Exception, match="not allowed"):
        mailbox_poll(mailbox)


@pytest.mark.django_db(transaction=True)
def test_idle_takes_mail_as_the_server_announces_it(tenant: Tenant, server: Dovecot, mailbox: ChannelEndpoint) -> None:
    """The watcher holds the mailbox in IDLE for up to an hour here: an email taken sooner was announced by the
    server, not found by a poll (no poll runs in this test)."""
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(mailbox.pk, stop), kwargs={"idle_seconds": 3600}, daemon=True)
    watcher.start()
    try:
        wait_until(lambda: MailboxCursor.objects.filter(endpoint=mailbox, uidvalidity__isnull=False).exists(),
                   what="the watcher to connect")  # fmt: skip
        server.deliver(USER, email(7))
        event = wait_until(lambda: InboundEvent.objects.filter(endpoint=mailbox).first(), timeout=20,
                           what="the announced email to be stored")  # fmt: skip
        assert b"Question number 7" in base64.b64decode(event.payload["mime"])
        server.deliver(USER, email(8))  # and the next, on the same connection
        wait_until(lambda: InboundEvent.objects.filter(endpoint=mailbox).count() == 2, timeout=20, what="the next")
    finally:
        stop.set()
        watcher.join(timeout=15)
    assert not watcher.is_alive()

"""Webchat files and transcripts: a visitor attaches images and documents (type, size and rate checked; served back
only to that visitor, as a download no browser runs), and gets the chat by email once the address is proven
theirs (the host site vouched for it, or a code emailed to it was typed back)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from channels_app import webchat
from channels_app.models import ChannelEndpoint
from contacts.services import contact_resolve
from inbox.models import Attachment, Message
from inbox.services import send_message
from tests.channels_app.test_webchat import SECRET, SITE, call, make_widget
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(endpoint: ChannelEndpoint, session: str, name: str, data: bytes, content_type: str, **extra: Any) -> Any:
    return Client().post(
        f"/webchat-files/{endpoint.address}/upload",
        {"file": SimpleUploadedFile(name, data, content_type), **extra},
        HTTP_ORIGIN=SITE,
        HTTP_AUTHORIZATION=f"Bearer {session}",
    )


def fetch(endpoint: ChannelEndpoint, session: str, attachment_id: int) -> Any:
    return Client().get(
        f"/webchat-files/{endpoint.address}/{attachment_id}", HTTP_ORIGIN=SITE, HTTP_AUTHORIZATION=f"Bearer {session}"
    )


def session_of(endpoint: ChannelEndpoint, **body: Any) -> str:
    return str(call(endpoint, "session", body).json()["session"])


@pytest.fixture
def email_backend(settings: Any, monkeypatch: Any) -> None:
    """Mail kept in mail.outbox; the email task runs in this process as soon as it is queued (after commit)."""
    from channels_app import webchat_files
    from channels_app.tasks import send_webchat_email

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(webchat_files, "_send_later", lambda *args: send_webchat_email.apply(args=args))


def test_a_visitor_sends_a_picture_and_a_document_and_only_they_get_them_back(tenant: Tenant) -> None:
    endpoint = make_widget(tenant)
    session = session_of(endpoint)
    sent = upload(endpoint, session, "leak.png", PNG, "image/png", body="Here is the leak", client_id="f1")
    assert sent.status_code == 200, sent.json()
    assert sent["Access-Control-Allow-Origin"] == SITE
    [picture] = sent.json()["message"]["attachments"]
    assert (picture["filename"], picture["content_type"]) == ("leak.png", "image/png")
    # a resend after a dropped connection is stored once
    again = upload(endpoint, session, "leak.png", PNG, "image/png", body="Here is the leak", client_id="f1")
    assert again.json()["message"]["id"] == sent.json()["message"]["id"]
    message = Message.objects.get(channel="webchat")
    assert message.body == "Here is the leak" and message.conversation.last_message_preview
    # a file whose label says only "bytes" is typed by its name
    doc = upload(endpoint, session, "quote.pdf", PDF, "application/octet-stream")
    assert doc.json()["message"]["attachments"][0]["content_type"] == "application/pdf"

    got = fetch(endpoint, session, picture["id"])
    assert got.status_code == 200 and b"".join(got.streaming_content) == PNG
    assert got["Content-Disposition"].startswith("attachment;") and got["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got["Content-Security-Policy"]
    # another visitor of the same widget, a bad session, another widget: nothing
    stranger = session_of(endpoint)
    assert fetch(endpoint, stranger, picture["id"]).status_code == 404
    assert fetch(endpoint, "forged", picture["id"]).status_code == 401
    other = ChannelEndpoint.objects.create(
        account=tenant.account, inbox=endpoint.inbox, kind="webchat", provider="widget",
        address=webchat.new_widget_token(), options={"allowed_origins": [SITE]},
    )  # fmt: skip
    assert fetch(other, session, picture["id"]).status_code == 401

    # the team's file in a reply reaches the visitor the same way
    reply = send_message(
        account=tenant.account, conversation=message.conversation, body="Our price list",
        sender_user=tenant.admin, attachments=[],
    )  # fmt: skip
    from inbox.attachments import IncomingFile
    from inbox.services import _store_attachments

    _store_attachments(tenant.account, reply, [IncomingFile.from_bytes("prices.pdf", PDF, "application/pdf")])
    history = call(endpoint, "messages?after=0", session=session).json()["messages"]
    theirs = history[-1]["attachments"][0]
    assert theirs["filename"] == "prices.pdf" and fetch(endpoint, session, theirs["id"]).status_code == 200


def test_what_a_visitor_may_not_send_is_refused_with_the_field(tenant: Tenant, settings: Any) -> None:
    endpoint = make_widget(tenant)
    session = session_of(endpoint)
    script = upload(endpoint, session, "run.exe", b"MZ\x90\x00", "application/x-msdownload")
    assert script.status_code == 400 and "cannot be attached" in script.json()["error"]["fields"]["file"][0]
    html = upload(endpoint, session, "page.html", b"<script>alert(1)</script>", "text/html")
    assert html.status_code == 400
    settings.WEBCHAT_FILE_MAX_BYTES = 1000
    big = upload(endpoint, session, "big.png", PNG + b"\x00" * 2000, "image/png")
    assert big.status_code == 413 and "1000" in big.json()["error"]["message"].replace(",", "").replace("\xa0", "")
    missing = Client().post(
        f"/webchat-files/{endpoint.address}/upload", {}, HTTP_ORIGIN=SITE, HTTP_AUTHORIZATION=f"Bearer {session}"
    )
    assert missing.status_code == 400 and "file" in missing.json()["error"]["fields"]
    assert upload(endpoint, "", "a.png", PNG, "image/png").status_code == 401
    assert (
        Client().post(f"/webchat-files/{endpoint.address}/upload", HTTP_ORIGIN="https://evil.example").status_code
        == 403
    )
    assert not Attachment.objects.exists()


def test_files_are_rate_limited_per_visitor(tenant: Tenant, monkeypatch: Any) -> None:
    from channels_app import webchat_files

    monkeypatch.setattr(webchat_files, "FILES_PER_MINUTE", 2)
    endpoint = make_widget(tenant)
    session = session_of(endpoint)
    codes = [upload(endpoint, session, f"{n}.png", PNG, "image/png").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_the_transcript_goes_to_an_address_proven_by_a_code(tenant: Tenant, email_backend: None) -> None:
    endpoint = make_widget(tenant, title="Northwind help")
    session = session_of(endpoint)
    nothing = call(endpoint, "transcript", {"email": "ana@example.com"}, session=session)
    assert nothing.status_code == 400  # nothing to send yet
    call(endpoint, "messages", {"body": "Do you deliver on Sundays?"}, session=session)
    message = Message.objects.get(channel="webchat")
    send_message(account=tenant.account, conversation=message.conversation, body="Yes, 9 to 1.",
                 sender_user=tenant.admin)  # fmt: skip

    asked = call(endpoint, "transcript", {"email": "Ana@Example.com"}, session=session)
    assert asked.json() == {"code_sent": True}
    [code_mail] = mail.outbox
    assert code_mail.to == ["Ana@example.com"] and "Do you deliver" not in code_mail.body  # no chat before the proof
    code = re.search(r"\b(\d{6})\b", code_mail.body).group(1)  # type: ignore[union-attr]
    wrong = call(endpoint, "transcript", {"email": "Ana@Example.com", "code": "000000" if code != "000000" else "1"},
                 session=session)  # fmt: skip
    assert wrong.status_code == 400 and "code" in wrong.json()["error"]["fields"]
    sent = call(endpoint, "transcript", {"email": "Ana@Example.com", "code": code}, session=session)
    assert sent.json() == {"sent_to": "A**@example.com"}
    transcript = mail.outbox[-1]
    assert transcript.subject == "Your chat with Northwind help"
    assert "You: Do you deliver on Sundays?" in transcript.body and "Yes, 9 to 1." in transcript.body
    # the proof holds for this visitor: asking again sends at once; another visitor must prove it themselves
    assert call(endpoint, "transcript", {"email": "Ana@example.com"}, session=session).json()["sent_to"]
    other = session_of(endpoint)
    call(endpoint, "messages", {"body": "hello"}, session=other)
    assert call(endpoint, "transcript", {"email": "ana@example.com"}, session=other).json() == {"code_sent": True}


def test_codes_expire_after_five_wrong_tries_and_are_limited_per_address(tenant: Tenant, email_backend: None) -> None:
    endpoint = make_widget(tenant)
    session = session_of(endpoint)
    call(endpoint, "messages", {"body": "hi"}, session=session)
    call(endpoint, "transcript", {"email": "bo@example.com"}, session=session)
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)  # type: ignore[union-attr]
    for _ in range(5):
        call(endpoint, "transcript", {"email": "bo@example.com", "code": "x"}, session=session)
    late = call(endpoint, "transcript", {"email": "bo@example.com", "code": code}, session=session)
    assert late.status_code == 400 and "expired" in late.json()["error"]["message"]
    for _ in range(2):
        call(endpoint, "transcript", {"email": "bo@example.com"}, session=session)
    over = call(endpoint, "transcript", {"email": "bo@example.com"}, session=session)
    assert over.status_code == 429  # three codes an hour


def test_a_verified_visitor_gets_it_at_their_known_address(tenant: Tenant, email_backend: None) -> None:
    endpoint = make_widget(tenant)
    contact_resolve(account=tenant.account, kind="email", raw_address="kim@example.com", name="Kim")
    vouched = webchat.identifier_hash(SECRET, "kim@example.com")
    session = session_of(endpoint, identifier="kim@example.com", identifier_hash=vouched, email="kim@example.com")
    call(endpoint, "messages", {"body": "Where is my parcel?"}, session=session)
    sent = call(endpoint, "transcript", {}, session=session)
    assert sent.json() == {"sent_to": "k**@example.com"}
    assert mail.outbox[-1].to == ["kim@example.com"] and "Where is my parcel?" in mail.outbox[-1].body

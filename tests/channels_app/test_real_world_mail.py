"""Mail as it arrives from real mail software, each class of trouble a mail client reads past: posted through the
raw-MIME and SendGrid webhooks, processed by the task, and checked on the stored message as the agent sees it.

The messages in tests/fixtures/email/realworld/ were written here to reproduce each class (README.md there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from channels_app.adapters import email as email_adapter
from channels_app.models import InboundEvent
from contacts.models import ContactIdentity
from inbox.models import Message
from tests.channels_app.test_email import SECRET, basic, make_endpoint, path, run_pending
from tests.conftest import Tenant

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "email" / "realworld"
PDF_START = b"%PDF-1.4"


def post_mime(tenant: Tenant, name: str) -> Message:
    endpoint = make_endpoint(tenant, "mime")
    response = Client().post(path(endpoint), (CORPUS / name).read_bytes(), "message/rfc822", HTTP_AUTHORIZATION=basic())
    assert response.status_code == 200
    assert run_pending() == ["processed"], InboundEvent.objects.values_list("error", flat=True)
    return Message.objects.get(account=tenant.account, channel="email")


@pytest.mark.django_db
def test_a_broken_header_line_does_not_lose_the_sender(tenant: Tenant) -> None:
    # Python's parser ends the head at the first line that is not a header, so From and Subject fell into the body.
    message = post_mime(tenant, "bad_header_line.eml")
    assert message.contact.identities.get().value == "lena@example.net"
    assert message.metadata["subject"] == "Order 5521 never arrived"
    assert message.body.startswith("Hello, my order 5521 never arrived.")
    assert message.metadata["repaired"] == "Read leniently: a header line that is not a header."
    assert message.provider_id == "<broken-line-1@example.net>"


@pytest.mark.django_db
def test_obsolete_header_syntax_is_read(tenant: Tenant) -> None:
    message = post_mime(tenant, "obsolete_header_syntax.eml")
    assert message.contact.identities.get().value == "pete@example.org"
    assert message.metadata["subject"] == "Opening hours"
    assert message.body == "Are you open on Saturdays?"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "address", "why"),
    [
        ("quoted_local_part.eml", '"Big Bug bb"@bug.example.com', "Quoting"),
        ("dotless_domain.eml", "ops@intranet", "period"),
        ("reserved_domain.eml", "pete@silly.test", "special-use or reserved"),
    ],
)
def test_rfc_valid_senders_are_kept_and_flagged(tenant: Tenant, name: str, address: str, why: str) -> None:
    message = post_mime(tenant, name)
    assert ContactIdentity.objects.get(account=tenant.account, kind="email").value == address
    assert why in message.metadata["sender_note"]
    assert message.body


@pytest.mark.django_db
def test_a_sender_that_is_no_address_is_still_refused_and_kept_for_replay(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime")
    mime = b"From: nobody at all\r\nTo: support@northwind.test\r\nSubject: x\r\n\r\nbody\r\n"
    assert Client().post(path(endpoint), mime, "message/rfc822", HTTP_AUTHORIZATION=basic()).status_code == 200
    assert run_pending() == ["failed"]
    assert "not an email address" in InboundEvent.objects.get().error


@pytest.mark.django_db
def test_an_unquoted_outlook_express_boundary_keeps_text_and_html(tenant: Tenant) -> None:
    message = post_mime(tenant, "outlook_express_boundary.eml")
    assert message.body == "The heater I bought last week makes a clicking noise. Café owner here."
    assert "clicking noise" in message.metadata["html"]
    assert message.metadata["repaired"] == "Read leniently: an unquoted multipart boundary."


@pytest.mark.django_db
def test_a_whitespace_text_part_gives_way_to_the_html(tenant: Tenant) -> None:
    message = post_mime(tenant, "whitespace_text_beside_html.eml")
    assert message.body == "Please cancel my Tuesday booking."


@pytest.mark.django_db
def test_an_inline_forward_keeps_the_forwarded_email_collapsed(tenant: Tenant) -> None:
    message = post_mime(tenant, "forwarded_inline.eml")
    assert message.body == "Can you look at this? The amount looks wrong."
    assert message.metadata["forward"] is True
    quoted = message.metadata["quoted"]
    assert quoted.startswith("---------- Forwarded message ---------")
    assert "Your invoice 44 for 240.00 EUR is attached." in quoted
    assert message.metadata["headers"]["subject"] == "Fwd: Invoice 44"
    assert message.metadata["headers"]["from"] == "Ana Silva <ana@example.com>"


@pytest.mark.django_db
def test_a_forward_without_a_note_is_the_message(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime")
    mime = (
        b"From: Ana <ana@example.com>\r\nTo: support@northwind.test\r\nSubject: Fwd: hours\r\n\r\n"
        b"Begin forwarded message:\r\n\r\nFrom: Shop <shop@example.com>\r\nSubject: hours\r\n\r\n"
        b"We close at 6 on Fridays.\r\n"
    )
    Client().post(path(endpoint), mime, "message/rfc822", HTTP_AUTHORIZATION=basic())
    run_pending()
    message = Message.objects.get(channel="email")
    assert "We close at 6 on Fridays." in message.body  # nothing was hidden: the forward is all they sent
    assert "quoted" not in message.metadata


@pytest.mark.django_db
def test_an_email_forwarded_as_an_attachment_is_read_with_its_files(tenant: Tenant) -> None:
    message = post_mime(tenant, "forwarded_as_attachment.eml")
    assert message.body == "See the attached email from our landlord."
    [forwarded] = message.metadata["forwarded_emails"]
    assert forwarded["from"] == "Landlord <office@lease.example>"
    assert forwarded["subject"] == "Lease renewal"
    assert forwarded["text"] == "The new rent starts in January. The contract is attached."
    [attachment] = message.attachments.all()
    assert attachment.filename == "lease.pdf" and attachment.file.read().startswith(PDF_START)
    assert message.metadata["attachments_refused"] == []


@pytest.mark.django_db
def test_an_octet_stream_part_named_as_an_allowed_type_is_kept(tenant: Tenant) -> None:
    message = post_mime(tenant, "octet_stream_pdf.eml")
    [attachment] = message.attachments.all()
    assert (attachment.filename, attachment.content_type) == ("receipt.pdf", "application/pdf")
    assert message.metadata["attachments_refused"] == []


@pytest.mark.django_db
def test_a_signature_part_is_noted_not_refused(tenant: Tenant) -> None:
    message = post_mime(tenant, "pgp_signed.eml")
    assert message.body == "Please confirm the delivery date."
    assert message.metadata["signed"] == "PGP"
    assert message.metadata["attachments_refused"] == [] and not message.attachments.exists()


def _multipart(fields: dict[str, bytes], boundary: str = "xYzZY") -> bytes:
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@pytest.mark.django_db
def test_sendgrid_raw_mode_keeps_8bit_mime_in_its_own_charset(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "sendgrid")
    mime = (
        "From: =?iso-8859-1?q?Jos=E9?= <jose@example.com>\r\nTo: support@northwind.test\r\n"
        "Subject: =?iso-8859-1?q?Ma=F1ana?=\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="iso-8859-1"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        "¿Pueden venir mañana a las 9? Gracias, José\r\n"
    ).encode("iso-8859-1")
    body = _multipart({"email": mime, "to": b"support@northwind.test", "charsets": b'{"to":"UTF-8"}'})
    response = Client().post(
        path(endpoint), body, "multipart/form-data; boundary=xYzZY", HTTP_AUTHORIZATION=basic(SECRET)
    )
    assert response.status_code == 200
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert message.body == "¿Pueden venir mañana a las 9? Gracias, José"
    assert message.metadata["subject"] == "Mañana"
    assert message.contact.name == "José"


@pytest.mark.django_db
def test_sendgrid_parsed_fields_are_decoded_by_their_named_charset(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "sendgrid")
    body = _multipart(
        {
            "from": "Zoë <zoe@example.com>".encode(),
            "to": b"support@northwind.test",
            "subject": "Réservation".encode("iso-8859-1"),
            "text": "Je voudrais réserver une table pour deux.".encode("iso-8859-1"),
            "headers": b"Message-ID: <cs-1@example.com>\r\n",
            "charsets": b'{"from":"UTF-8","to":"UTF-8","subject":"iso-8859-1","text":"iso-8859-1"}',
        }
    )
    Client().post(path(endpoint), body, "multipart/form-data; boundary=xYzZY", HTTP_AUTHORIZATION=basic(SECRET))
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert message.body == "Je voudrais réserver une table pour deux."
    assert message.metadata["subject"] == "Réservation"
    assert message.contact.name == "Zoë"


def test_every_corpus_message_reads_with_a_sender_and_words() -> None:
    """The whole corpus through the parser alone: a new file added there is checked without a new test."""
    seen = 0
    for eml in sorted(CORPUS.glob("*.eml")):
        mail: Any = email_adapter.from_mime(eml.read_bytes())
        assert "@" in mail.sender, eml.name
        assert email_adapter.visible_text(mail).strip(), eml.name
        seen += 1
    assert seen >= 11


@pytest.mark.django_db
def test_the_agent_sees_the_forward_collapsed_and_opens_the_original(tenant: Tenant) -> None:
    message = post_mime(tenant, "forwarded_inline.eml")
    client = Client()
    client.force_login(tenant.admin)
    A, C = tenant.account.pk, message.conversation_id
    thread = client.get(f"/a/{A}/conversations/{C}/thread").content.decode()
    assert '<details class="quoted"><summary>Forwarded message</summary>' in thread
    assert "Your invoice 44 for 240.00 EUR is attached." in thread
    original = client.get(f"/a/{A}/conversations/{C}/messages/{message.pk}/original")
    assert original.status_code == 200
    page = original.content.decode()
    assert "Fwd: Invoice 44" in page and "Ana Silva &lt;ana@example.com&gt;" in page
    assert "Can you look at this?" in page and "240.00 EUR" in page
    api = client.get(f"/api/v1/accounts/{A}/conversations/{C}/messages/{message.pk}/original").json()
    assert api["headers"]["subject"] == "Fwd: Invoice 44"
    assert api["text"].startswith("Can you look at this? The amount looks wrong.\n\n---------- Forwarded message")
    listed = client.get(f"/api/v1/accounts/{A}/conversations/{C}/messages").json()["results"]
    [details] = [m["email"] for m in listed if m["id"] == message.pk]
    assert details["forward"] is True and details["headers"]["message-id"] == "<fwd-inline-1@example.com>"
    assert details["quoted"].startswith("---------- Forwarded message")


@pytest.mark.django_db
def test_the_original_html_is_sanitized(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime")
    mime = (
        b"From: Eve <eve@example.com>\r\nTo: support@northwind.test\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p onclick="steal()">Hello <img src="https://tracker.example/p.gif"><script>alert(1)</script></p>\r\n'
    )
    Client().post(path(endpoint), mime, "message/rfc822", HTTP_AUTHORIZATION=basic())
    run_pending()
    message = Message.objects.get(channel="email")
    client = Client()
    client.force_login(tenant.admin)
    page = client.get(f"/a/{tenant.account.pk}/conversations/{message.conversation_id}/messages/{message.pk}/original")
    html = page.content.decode()
    assert "Hello" in html and "<script>alert" not in html and "onclick" not in html
    assert "img-src 'self'" in page.headers["Content-Security-Policy"]  # the remote image is never fetched

"""Size and count caps applied before (or while) a body is read: 413 with the reason for a body over its route's
limit; a signed email keeps its text and its files within the limits, and names the files it did not keep."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from twilio.request_validator import RequestValidator

from channels_app.adapters.twilio import webhook_url
from channels_app.models import InboundEvent
from config.logfilters import RedactQueryString
from inbox.models import Message
from tests.channels_app.test_email import PDF, SECRET, basic, load, make_endpoint, path, run_pending
from tests.channels_app.test_twilio import TOKEN, fixture, sms_endpoint
from tests.conftest import Tenant


@pytest.mark.django_db
def test_an_email_post_over_the_limit_is_refused_before_it_is_read(tenant: Tenant, settings: Any) -> None:
    settings.REQUEST_BODY_LIMITS = {**settings.REQUEST_BODY_LIMITS, "/webhooks/email/": 1024 * 1024}
    endpoint = make_endpoint(tenant, "sendgrid")
    big = SimpleUploadedFile("video.mp4", b"\0" * (2 * 1024 * 1024), "video/mp4")
    response = Client().post(
        path(endpoint), {**load("sendgrid/inbound_parse.json"), "attachment1": big}, HTTP_AUTHORIZATION=basic()
    )
    assert response.status_code == 413
    assert "may be at most 1.0\xa0MB" in response.content.decode()
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_file_over_the_attachment_limit_is_dropped_while_streaming_and_named(tenant: Tenant, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 256 * 1024
    endpoint = make_endpoint(tenant, "sendgrid")
    big = SimpleUploadedFile("scan.pdf", PDF + b"\0" * (1024 * 1024), "application/pdf")
    small = SimpleUploadedFile("statement.pdf", PDF, "application/pdf")
    response = Client().post(
        path(endpoint),
        {**load("sendgrid/inbound_parse.json"), "attachment1": big, "attachment2": small},
        HTTP_AUTHORIZATION=basic(),
    )
    assert response.status_code == 200
    with connection.cursor() as cursor:  # the stored event never held the big file
        cursor.execute("SELECT max(octet_length(payload::text)) FROM channels_app_inboundevent")
        assert cursor.fetchone()[0] < 64 * 1024
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert [a.filename for a in message.attachments.all()] == ["statement.pdf"]
    assert message.metadata["attachments_refused"] == ["scan.pdf: larger than 256.0\xa0KB; not kept."]


@pytest.mark.django_db
def test_an_email_of_thousands_of_parts_keeps_the_first_files_and_counts_the_rest(
    tenant: Tenant, settings: Any
) -> None:
    settings.ATTACHMENTS_PER_MESSAGE = 5
    endpoint = make_endpoint(tenant, "mime")
    mime = EmailMessage()
    mime["From"] = "Maria Lopez <maria@example.org>"
    mime["To"] = "support@northwind.test"
    mime["Subject"] = "Many files"
    mime["Message-ID"] = "<many-parts@example.org>"
    mime.set_content("Here are the receipts.")
    for n in range(2000):
        mime.add_attachment(b"receipt", maintype="text", subtype="plain", filename=f"r{n}.txt")
    response = Client().post(path(endpoint), mime.as_bytes(), "message/rfc822", HTTP_X_WEBHOOK_SECRET=SECRET)
    assert response.status_code == 200
    assert run_pending() == ["processed"]
    message = Message.objects.get(channel="email")
    assert message.body == "Here are the receipts."
    assert message.attachments.count() == 5
    refused = message.metadata["attachments_refused"]
    assert len(refused) == 51 and refused[-1] == "... 1995 files past the first 5 were not kept in all."


@pytest.mark.django_db
def test_a_huge_signed_twilio_post_is_refused_with_413(tenant: Tenant, settings: Any) -> None:
    endpoint = sms_endpoint(tenant, settings)
    payload = {**fixture("sms_inbound"), "Body": "x" * (1024 * 1024)}
    url = webhook_url(endpoint, "messaging")
    signature = RequestValidator(TOKEN).compute_signature(url, payload)
    response = Client().post(url.removeprefix("https://inbox.example.com"), payload, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 413
    assert "may be at most 256.0\xa0KB" in response.content.decode()
    assert InboundEvent.objects.count() == 0


@pytest.mark.django_db
def test_api_bodies_over_the_limit_answer_in_the_api_error_shape(tenant: Tenant, settings: Any) -> None:
    settings.REQUEST_BODY_LIMITS = {**settings.REQUEST_BODY_LIMITS, "/api/": 1024}
    response = tenant.client().post(
        f"/api/v1/accounts/{tenant.account.pk}/contacts", {"name": "x" * 4096}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_access_log_lines_carry_no_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.1:5000", "POST", "/webhooks/email/abc/mime?secret=hunter2-secret", "1.1", 200), None,
    )  # fmt: skip
    assert RedactQueryString().filter(record)
    assert "hunter2" not in record.getMessage() and "/webhooks/email/abc/mime?[redacted]" in record.getMessage()

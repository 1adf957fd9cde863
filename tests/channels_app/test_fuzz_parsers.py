"""Hypothesis over the webhook parsers and views: whatever a provider (or someone holding an endpoint's secret)
posts, the answer is a 200, 403 or 413 and the stored event is processed or kept failed with its reason — never a
server error, never an exception that is not ours."""

from __future__ import annotations

import base64
import contextlib

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.adapters import email, twilio
from channels_app.models import InboundEvent
from channels_app.tasks import process_inbound_event
from tests.channels_app.test_email import SECRET, make_endpoint, path
from tests.conftest import Tenant

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip
text = st.text(st.characters(codec="utf-8"), max_size=80)


@FUZZ
@given(st.binary(max_size=2000) | st.builds(lambda s: s.encode("utf-8", "surrogatepass"), text))
def test_any_mime_bytes_parse_or_say_why(data: bytes) -> None:
    with contextlib.suppress(email.MalformedEmail):
        email.parse({"format": "mime", "mime": base64.b64encode(data).decode()})


@FUZZ
@given(st.dictionaries(st.sampled_from(["From", "To", "Body", "MessageSid", "NumMedia", "ProfileName",
                                        "MediaUrl0", "MediaContentType0"]), text))  # fmt: skip
def test_any_twilio_form_parses_or_says_why(payload: dict[str, str]) -> None:
    with contextlib.suppress(twilio.MalformedPayload):
        twilio.parse_messaging(payload)


@pytest.mark.django_db
def test_any_authenticated_raw_mime_post_is_stored_and_processed_or_kept_failed(tenant: Tenant) -> None:
    endpoint = make_endpoint(tenant, "mime")

    @FUZZ
    @given(
        headers=st.lists(st.tuples(st.sampled_from(["From", "To", "Subject", "Message-ID", "In-Reply-To",
                                                    "Content-Type", "Content-Transfer-Encoding"]), text),
                         max_size=6),
        body=text,
    )  # fmt: skip
    def post(headers: list[tuple[str, str]], body: str) -> None:
        raw = "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n" + body
        response = Client().post(
            path(endpoint), raw.encode("utf-8", "surrogatepass"), "message/rfc822", HTTP_X_WEBHOOK_SECRET=SECRET
        )
        assert response.status_code in {200, 413}, response.content
        for event_id in InboundEvent.objects.filter(status="pending").values_list("pk", flat=True):
            assert process_inbound_event.run(event_id) in {"processed", "failed"}

    post()
    assert InboundEvent.objects.exists()  # the posts were stored
    assert not InboundEvent.objects.filter(status="failed", error="").exists()  # a failure always says why

"""Provider webhooks: verify first, store the raw event, acknowledge fast; the work happens in a task."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .adapters import email, meta, twilio
from .credentials import credentials_get
from .intake import store_and_enqueue
from .models import ChannelEndpoint, Provider
from .uploads import CappedUploadHandler

logger = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWILIO_KINDS = {"messaging", "status"} | twilio.VOICE_KINDS


@csrf_exempt
@require_POST
def twilio_webhook(request: HttpRequest, public_id: str, kind: str) -> HttpResponse:
    if kind not in TWILIO_KINDS:
        raise Http404
    found = _twilio_endpoint(str(public_id))
    if found is None:
        raise Http404
    endpoint, token = found
    if not twilio.verify(request, endpoint, kind, token=token):
        logger.warning("Twilio %s webhook for endpoint %s refused: bad or missing signature", kind, public_id)
        return HttpResponseForbidden("Invalid X-Twilio-Signature.", content_type="text/plain")
    payload: dict[str, str] = {key: str(value) for key, value in request.POST.items()}
    # Record's action request only says the recording ended: the recording callback brings the recording.
    if not (kind == "gather" and "SpeechResult" not in payload):
        # the broker down: Twilio still gets its 200, and the sweeper enqueues the event later
        store_and_enqueue(endpoint, kind, twilio.idempotency_key(kind, payload), payload)
    if kind == "voice":
        return HttpResponse(twilio.answer(endpoint, endpoint.inbox.name), content_type="text/xml")
    if kind == "gather":
        return HttpResponse(twilio.goodbye(), content_type="text/xml")
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def email_webhook(request: HttpRequest, public_id: str, provider: str) -> HttpResponse:
    """Inbound email from SendGrid, Mailgun, Postmark or a mail server posting raw MIME."""
    if provider not in email.PROVIDERS:
        raise Http404
    endpoint = ChannelEndpoint.objects.filter(
        public_id=public_id, kind="email", provider=provider, enabled=True
    ).first()
    if endpoint is None:
        raise Http404
    uploads = CappedUploadHandler(request)
    request.upload_handlers = [uploads]
    email.read_as_bytes(request)
    try:
        email.verify(request, endpoint)
        payload = email.raw_payload(request, endpoint)
        if uploads.refused:
            payload["files_refused"] = uploads.refused[:100]
        key = email.idempotency_key(payload)
        if provider == "mailgun":
            email.mailgun_token_claim(endpoint, request.POST.get("token", ""), key)
    except email.Refused as exc:
        logger.warning("%s email webhook for endpoint %s refused: %s", provider, public_id, exc)
        return HttpResponseForbidden(str(exc), content_type="text/plain")
    except TooManyFilesSent:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return HttpResponse(f"More than {limit} files in one post.", status=413, content_type="text/plain")
    store_and_enqueue(endpoint, "email", key, payload)
    return HttpResponse("OK", content_type="text/plain")


@csrf_exempt
def meta_webhook(request: HttpRequest, public_id: str) -> HttpResponse:
    """Messenger and Instagram: GET is Meta's subscription handshake (the verify token), POST the signed events,
    stored one by one (a post may batch several) and acknowledged."""
    endpoint = ChannelEndpoint.objects.filter(public_id=public_id, provider=Provider.META, enabled=True).first()
    if endpoint is None:
        raise Http404
    if request.method == "GET":
        challenge = meta.handshake(request, endpoint)
        if challenge is None:
            return HttpResponseForbidden("The verify token does not match.", content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")
    if request.method != "POST":
        return HttpResponse(status=405)
    if not meta.verify(request, endpoint):
        logger.warning("Meta webhook for endpoint %s refused: bad or missing X-Hub-Signature-256", public_id)
        return HttpResponseForbidden("Invalid X-Hub-Signature-256.", content_type="text/plain")
    try:
        posted: Any = json.loads(request.body)
    except ValueError:  # signed but unreadable: kept whole for a fixed parser to replay
        posted = {"unreadable": request.body.decode("utf-8", "replace")}
    for key, payload in meta.split_events(posted):
        store_and_enqueue(endpoint, "meta", key, payload)
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")


# Endpoints (with their decrypted auth token) are kept per process for a few seconds: every webhook needs
# them, and they change rarely. A disabled endpoint or a new token takes effect within this delay.
ENDPOINT_CACHE_SECONDS = 10.0
_endpoints: dict[str, tuple[float, ChannelEndpoint, str]] = {}


def _twilio_endpoint(public_id: str) -> tuple[ChannelEndpoint, str] | None:
    now = time.monotonic()
    hit = _endpoints.get(public_id)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    endpoint = (
        ChannelEndpoint.objects.select_related("inbox")
        .filter(public_id=public_id, provider=Provider.TWILIO, enabled=True)
        .first()
    )
    if endpoint is None:
        _endpoints.pop(public_id, None)
        return None
    token = str(credentials_get(endpoint).get("auth_token", ""))
    _endpoints[public_id] = (now + ENDPOINT_CACHE_SECONDS, endpoint, token)
    return endpoint, token

"""Provider webhooks: verify first, store the raw event, acknowledge fast; the work happens in a task."""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .adapters import twilio
from .models import ChannelEndpoint, InboundEvent, Provider

logger = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWILIO_KINDS = {"messaging", "status"}


@csrf_exempt
@require_POST
def twilio_webhook(request: HttpRequest, public_id: str, kind: str) -> HttpResponse:
    if kind not in TWILIO_KINDS:
        raise Http404
    endpoint = (
        ChannelEndpoint.objects.select_related("account")
        .filter(public_id=public_id, provider=Provider.TWILIO, enabled=True)
        .first()
    )
    if endpoint is None:
        raise Http404
    if not twilio.verify(request, endpoint, kind):
        logger.warning("Twilio %s webhook for endpoint %s refused: bad or missing signature", kind, public_id)
        return HttpResponseForbidden("Invalid X-Twilio-Signature.", content_type="text/plain")
    payload: dict[str, str] = {key: str(value) for key, value in request.POST.items()}
    with transaction.atomic():
        event, created = InboundEvent.objects.get_or_create(
            endpoint=endpoint,
            idempotency_key=twilio.idempotency_key(kind, payload),
            defaults={"account_id": endpoint.account_id, "kind": kind, "payload": payload},
        )
        if created:
            # robust: with the broker down the provider still gets its 200; the sweeper enqueues later.
            transaction.on_commit(lambda: _enqueue(event.pk), robust=True)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _enqueue(event_id: int) -> None:
    from .tasks import process_inbound_event

    process_inbound_event.delay(event_id)

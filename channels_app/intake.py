"""What arrives (a provider's webhook, a mailbox's new email) is stored once as an inbound event, then queued for
its task; the webhook views and the mailbox reader share this."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import connection

from accounts.text import clean_json, clean_text

from .models import ChannelEndpoint

logger = logging.getLogger(__name__)

INSERT_ONCE = """
INSERT INTO channels_app_inboundevent
    (account_id, endpoint_id, kind, idempotency_key, payload, status, error, attempts, received_at)
VALUES (%s, %s, %s, %s, %s, 'pending', '', 0, now())
ON CONFLICT (endpoint_id, idempotency_key) DO NOTHING
RETURNING id
"""


def store_once(endpoint: ChannelEndpoint, kind: str, key: str, payload: dict[str, Any]) -> int | None:
    """Store the event unless it is a retry; its id when new. One statement: a provider's retries, even
    concurrent ones, meet the unique constraint and change nothing."""
    with connection.cursor() as cursor:
        # As received, less what PostgreSQL refuses (a NUL in a signed body must not lose the message).
        row = (endpoint.account_id, endpoint.pk, kind, clean_text(key), json.dumps(clean_json(payload)))
        cursor.execute(INSERT_ONCE, row)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def enqueue(event_id: int) -> None:
    """Publish without the client's own retries: a stalled broker costs the provider at most the socket timeout
    (CELERY_BROKER_TRANSPORT_OPTIONS), never its webhook timeout; the sweeper enqueues what was not published."""
    from .tasks import process_inbound_event

    process_inbound_event.apply_async((event_id,), retry=False)


def store_and_enqueue(endpoint: ChannelEndpoint, kind: str, key: str, payload: dict[str, Any]) -> int | None:
    """Store once and queue; a broker that is down is logged (the sweeper queues the event later), never raised:
    what arrived is kept either way. The event's id when new."""
    event_id = store_once(endpoint, kind, key, payload)
    if event_id is not None:
        try:
            enqueue(event_id)
        except Exception:
            logger.exception("could not enqueue inbound event %s; the sweeper will", event_id)
    return event_id

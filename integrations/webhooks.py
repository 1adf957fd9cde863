"""Outbound webhooks: admins subscribe an address to events; every event is stored as one delivery per
subscription, signed, sent through the outbound guard (public addresses only), retried with backoff, kept with
its answer, replayable, and the subscription turns itself off after repeated failures, with a notice.

Signature (documented in docs/webhooks.md): `Continuum-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" with the subscription's secret>`. The timestamp is signed so a captured request cannot be
replayed later; receivers refuse a `t` older than five minutes. The body carries the event's `id`, the same for
every attempt and replay, so a receiver can drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import crypto, outbound
from accounts.errors import ServiceError
from accounts.models import Account, Membership, Role, User
from accounts.services import audit_log_record
from accounts.text import clean_text

from .models import DeliveryState, WebhookDelivery, WebhookEvent, WebhookSubscription

logger = logging.getLogger(__name__)

# Waits before the 2nd, 3rd, ... attempt: about a day in all, then the delivery has failed for good.
RETRY_DELAYS = (60, 5 * 60, 30 * 60, 2 * 3600, 6 * 3600, 12 * 3600)
TIMEOUT = (5.0, 10.0)  # connect, read (seconds)
ATTEMPT_SECONDS = 15.0  # the whole attempt, however the receiver trickles its answer
RESPONSE_KEPT = 2000  # characters of an answer kept for the console
MAX_SUBSCRIPTIONS = 20  # per account
# an attempt's lease: longer than deliver_webhook may run (its hard time limit is 60 s)
LEASE = timedelta(seconds=90)
SWEEP_AFTER = timedelta(minutes=2)  # a delivery whose task was lost is picked up by the beat sweeper
USER_AGENT = "Continuum-Webhooks/1"
EVENTS = [value for value, _label in WebhookEvent.choices]
_CACHE = "webhooks:events:{}"

# What the inbox and memory publish, as the events subscribers choose from.
_EVENT_OF = {
    "message.created": WebhookEvent.MESSAGE_CREATED,
    "conversation.updated": WebhookEvent.CONVERSATION_UPDATED,
    "memory.updated": WebhookEvent.MEMORY_UPDATED,
    "handoff.created": WebhookEvent.HANDOFF_CREATED,
    "csat.created": WebhookEvent.CSAT_CREATED,
}


def disable_after() -> int:
    return int(getattr(settings, "WEBHOOK_DISABLE_AFTER", 15))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def secret_of(subscription: WebhookSubscription) -> str:
    return crypto.decrypt(subscription.secret_encrypted)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (docs/webhooks.md has the same in a few lines): the signature matches and is fresh."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- subscriptions -------------------------------------------------------------------------------------------


def _check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ServiceError(f"Unknown event {unknown[0]!r}; choose from {', '.join(EVENTS)}.", field="events")
    if not events:
        raise ServiceError("Choose at least one event.", field="events")
    return sorted(set(events))


def _check_url(url: str) -> str:
    url = url.strip()
    if len(url) > 500:
        raise ServiceError("The address is longer than 500 characters.", field="url")
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as refused:
        raise ServiceError(refused.reason, field="url") from None
    return url


def _changed(account_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(_CACHE.format(account_id)))


@transaction.atomic
def subscription_create(
    *, account: Account, actor: User | None, url: str, events: list[str], description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (shown once; only its encrypted form is kept)."""
    if WebhookSubscription.objects.filter(account=account).count() >= MAX_SUBSCRIPTIONS:
        raise ServiceError(f"An account has at most {MAX_SUBSCRIPTIONS} webhook subscriptions.", field="url")
    secret = new_secret()
    subscription = WebhookSubscription.objects.create(
        account=account,
        url=_check_url(url),
        events=_check_events(events),
        description=description[:200],
        secret_encrypted=crypto.encrypt(secret),
        created_by=actor,
    )
    audit_log_record(account=account, actor=actor, action="webhook.created", target=subscription,
                     data={"url": subscription.url, "events": subscription.events})  # fmt: skip
    _changed(account.pk)
    return subscription, secret


@transaction.atomic
def subscription_update(
    *, account: Account, actor: User | None, subscription: WebhookSubscription, **changes: Any
) -> WebhookSubscription:
    if "url" in changes:
        subscription.url = _check_url(changes["url"])
    if "events" in changes:
        subscription.events = _check_events(changes["events"])
    if "description" in changes:
        subscription.description = str(changes["description"])[:200]
    if "enabled" in changes:
        subscription.enabled = bool(changes["enabled"])
        if subscription.enabled:  # turned back on by a person: it starts with a clean slate
            subscription.consecutive_failures = 0
            subscription.disabled_reason = ""
    subscription.save()
    audit_log_record(account=account, actor=actor, action="webhook.updated", target=subscription,
                     data={k: v for k, v in changes.items() if k in {"url", "events", "enabled"}})  # fmt: skip
    _changed(account.pk)
    return subscription


@transaction.atomic
def subscription_rotate_secret(*, account: Account, actor: User | None, subscription: WebhookSubscription) -> str:
    secret = new_secret()
    subscription.secret_encrypted = crypto.encrypt(secret)
    subscription.save(update_fields=["secret_encrypted"])
    audit_log_record(account=account, actor=actor, action="webhook.secret_rotated", target=subscription)
    return secret


@transaction.atomic
def subscription_delete(*, account: Account, actor: User | None, subscription: WebhookSubscription) -> None:
    audit_log_record(account=account, actor=actor, action="webhook.deleted", target=subscription,
                     data={"url": subscription.url})  # fmt: skip
    subscription.delete()
    _changed(account.pk)


# --- events in, deliveries out ---------------------------------------------------------------------------------


def subscribed_events(account_id: int) -> set[str]:
    """The events some enabled subscription of the account wants (cached in Redis; a change clears it)."""
    key = _CACHE.format(account_id)
    cached = cache.get(key)
    if cached is None:
        rows = WebhookSubscription.objects.filter(account_id=account_id, enabled=True).values_list("events", flat=True)
        cached = sorted({e for events in rows for e in events})
        cache.set(key, cached, 300)
    return set(cached)


def on_event(account_id: int, inbox_id: int, type: str, payload: dict[str, Any]) -> None:
    """An inbox or memory event after commit: queue it for the subscriptions that want it (one Redis read when
    nobody does)."""
    event = _EVENT_OF.get(type)
    if event is None or event not in subscribed_events(account_id):
        return
    from .tasks import fanout_event

    # the event's id is chosen here, once: a fan-out task run twice (acks_late) finds its deliveries made
    fanout_event.delay(account_id, str(event), {"inbox_id": inbox_id, **payload}, f"evt_{uuid.uuid4().hex}")


def envelope(account_id: int, event: str, data: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": event,
        "created_at": timezone.now().isoformat(),
        "account_id": account_id,
        "data": data,
    }


def fanout(account_id: int, event: str, data: dict[str, Any], event_id: str | None = None) -> list[int]:
    """One delivery per enabled subscription that wants the event (none again for a subscription that already has
    this event), each queued. Returns the new deliveries' ids."""
    body = envelope(account_id, event, data, event_id=event_id)
    subscriptions = WebhookSubscription.objects.filter(
        account_id=account_id, enabled=True, events__contains=[event]
    ).exclude(deliveries__event_id=body["id"])
    created = [_delivery(subscription, body) for subscription in subscriptions]
    _queue([d.pk for d in created])
    return [d.pk for d in created]


def _delivery(subscription: WebhookSubscription, body: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        account_id=subscription.account_id,
        subscription=subscription,
        event_id=body["id"],
        event=body["type"],
        payload=body,
        next_attempt_at=timezone.now() + SWEEP_AFTER,
    )


def _queue(ids: list[int]) -> None:
    if not ids:
        return
    from .tasks import deliver_webhook

    def send() -> None:
        for pk in ids:
            try:
                deliver_webhook.delay(pk)
            except Exception:  # the broker is down: the sweeper sends it
                logger.warning("webhook delivery %s not queued; the sweeper will send it", pk, exc_info=True)

    transaction.on_commit(send)


def send_test(*, subscription: WebhookSubscription) -> WebhookDelivery:
    """A `ping` to this subscription alone, to check the receiver."""
    body = envelope(subscription.account_id, "ping", {"subscription_id": subscription.pk})
    delivery = _delivery(subscription, body)
    _queue([delivery.pk])
    return delivery


def replay(*, account: Account, actor: User | None, delivery: WebhookDelivery) -> WebhookDelivery:
    """The same event (same id and body) again, as a new delivery; the old one keeps its history."""
    again = _delivery(delivery.subscription, delivery.payload)
    audit_log_record(account=account, actor=actor, action="webhook.replayed", target=delivery.subscription,
                     data={"delivery": delivery.pk, "event_id": delivery.event_id})  # fmt: skip
    _queue([again.pk])
    return again


def deliver(delivery_id: int, *, now: datetime | None = None) -> str | None:
    """One attempt at one delivery. Returns the delivery's state afterwards, or None when there was nothing to do
    (sent already, or another worker's attempt holds its lease).

    The request is made outside any transaction: the delivery is leased (`leased_until`, longer than an attempt
    may last) in a short one, sent, and its answer recorded in another. A receiver that takes its time holds no
    row lock and no open transaction; two workers never send it at once; a worker that dies mid-attempt leaves a
    lease that runs out, and the sweeper sends the delivery again."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("subscription")
            .filter(pk=delivery_id, state__in=[DeliveryState.PENDING, DeliveryState.RETRYING])
            .exclude(leased_until__gt=timezone.now())
            .first()
        )
        if delivery is None:
            return None
        subscription = delivery.subscription
        if not subscription.enabled:
            delivery.state, delivery.error = DeliveryState.FAILED, "The subscription is turned off."
            delivery.finished_at, delivery.leased_until = timezone.now(), None
            delivery.save(update_fields=["state", "error", "finished_at", "leased_until"])
            return delivery.state
        if delivery.attempts >= _attempts_allowed(delivery):
            # every attempt was started, and the last never came back (its worker stopped): not one more
            delivery.state, delivery.finished_at, delivery.next_attempt_at = DeliveryState.FAILED, timezone.now(), None
            delivery.error, delivery.leased_until = "The last attempt never finished (its worker stopped).", None
            delivery.save(update_fields=["state", "error", "finished_at", "next_attempt_at", "leased_until"])
            return delivery.state
        delivery.leased_until = timezone.now() + LEASE
        # the sweeper looks again once the lease has run out (a worker that died mid-attempt); the attempt is
        # counted now, so attempts that never finish still come to an end (above)
        delivery.next_attempt_at = delivery.leased_until
        delivery.attempts += 1
        delivery.save(update_fields=["leased_until", "next_attempt_at", "attempts"])
    ok = _attempt(delivery, subscription)
    with transaction.atomic():
        _record(delivery, subscription, ok, now or timezone.now())
    return delivery.state


def _attempt(delivery: WebhookDelivery, subscription: WebhookSubscription) -> bool:
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Continuum-Event": delivery.event,
        "Continuum-Event-Id": delivery.event_id,
        "Continuum-Delivery": str(delivery.pk),
        "Continuum-Signature": sign(secret_of(subscription), timestamp, body),
    }
    started = time.monotonic()
    delivery.response_status, delivery.response_body, delivery.error = None, "", ""
    try:
        with outbound.session() as http, outbound.within(ATTEMPT_SECONDS, "The receiver's answer"):
            response = http.post(
                subscription.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False, stream=True
            )
            with response:
                kept = response.raw.read(RESPONSE_KEPT * 4, decode_content=True) or b""
            delivery.response_status = response.status_code
            delivery.response_body = clean_text(kept.decode("utf-8", "replace"))[:RESPONSE_KEPT]
            ok = 200 <= response.status_code < 300
            if not ok:
                delivery.error = f"The receiver answered {response.status_code}" + (
                    " (a redirect: webhooks are not redirected; subscribe the final address)."
                    if 300 <= response.status_code < 400
                    else "."
                )
    except outbound.OutboundRefused as refused:
        delivery.error, ok = refused.reason[:300], False
    except Exception as exc:  # timeouts, refused connections, TLS errors: the receiver is unreachable
        delivery.error, ok = f"Could not reach the receiver: {type(exc).__name__}.", False
    delivery.duration_ms = int((time.monotonic() - started) * 1000)
    return ok


def _attempts_allowed(delivery: WebhookDelivery) -> int:
    """A ping is tried once (the admin is watching); an event once, then again after each of RETRY_DELAYS."""
    return 1 if delivery.event == "ping" else len(RETRY_DELAYS) + 1


def _record(delivery: WebhookDelivery, subscription: WebhookSubscription, ok: bool, now: datetime) -> None:
    if ok:
        delivery.state, delivery.finished_at, delivery.next_attempt_at = DeliveryState.SUCCEEDED, now, None
        WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0, last_success_at=now)
    else:
        if delivery.attempts < _attempts_allowed(delivery):
            delivery.state = DeliveryState.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[delivery.attempts - 1])
        else:
            delivery.state, delivery.finished_at, delivery.next_attempt_at = DeliveryState.FAILED, now, None
        # counted in the database: deliveries to one subscription run in parallel
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            consecutive_failures=F("consecutive_failures") + 1
        )
    delivery.leased_until = None
    delivery.save()
    subscription.refresh_from_db(fields=["consecutive_failures", "last_success_at"])
    if not ok and subscription.enabled and subscription.consecutive_failures >= disable_after():
        _disable(subscription, delivery)


def _disable(subscription: WebhookSubscription, delivery: WebhookDelivery) -> None:
    from inbox.models import NotificationKind
    from inbox.notifications import notify

    reason = f"Turned off after {subscription.consecutive_failures} failed attempts in a row; last: {delivery.error}"
    subscription.enabled, subscription.disabled_reason = False, reason[:300]
    subscription.save(update_fields=["enabled", "disabled_reason"])
    account = subscription.account
    audit_log_record(account=account, actor=None, action="webhook.disabled", target=subscription,
                     data={"url": subscription.url, "reason": subscription.disabled_reason})  # fmt: skip
    admins = Membership.objects.filter(account=account, role=Role.ADMIN, user__is_active=True)
    notify(account=account, user_ids=admins.values_list("user_id", flat=True), kind=NotificationKind.INTEGRATION,
           text=f"The webhook to {subscription.url} was turned off: it failed {subscription.consecutive_failures} "
                "times in a row. Fix the receiver, then turn it back on in Settings, Integrations.")  # fmt: skip
    emails = list(admins.values_list("user__email", flat=True))
    subject = f"A webhook of {account.name} was turned off"
    body = f"{reason}\n\nAddress: {subscription.url}\nTurn it back on in Settings, Integrations, once it answers."
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, emails, fail_silently=True))
    _changed(account.pk)


def due_deliveries(now: datetime | None = None) -> list[int]:
    """Deliveries whose next attempt is due (retries, and first attempts whose task was lost)."""
    now = now or timezone.now()
    rows = WebhookDelivery.objects.filter(
        state__in=[DeliveryState.PENDING, DeliveryState.RETRYING], next_attempt_at__lte=now
    ).order_by("next_attempt_at")
    return list(rows.values_list("pk", flat=True)[:500])


def claim_due(now: datetime | None = None) -> list[int]:
    """The due deliveries, each pushed SWEEP_AFTER into the future as it is handed out: the next sweep does not
    queue it again while its task waits in the queue (an attempt sets the real next time)."""
    now = now or timezone.now()
    due = due_deliveries(now)
    WebhookDelivery.objects.filter(pk__in=due).update(next_attempt_at=now + SWEEP_AFTER)
    return due

"""Who is at their console. Each open console socket records itself in Redis (one hash per person and account:
socket -> last seen), refreshed by the console's ping; a person is online while one of their sockets was seen in
the last PRESENCE_TTL seconds, busy when they say so, offline otherwise. The result is kept on the membership
(`availability`), which routing reads. A process that dies without closing its sockets leaves entries behind
that age out: beat's `presence_sweep` turns those people offline."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal

from .models import Availability, Membership

PRESENCE_TTL = 90  # seconds: three missed pings of the console (every 25 s)
# Sent after commit when a person becomes online (from offline or busy): routing hands out the backlog.
came_online = Signal()

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=3)
    return _client


def _key(account_id: int, user_id: int) -> str:
    return f"continuum:presence:{account_id}:{user_id}"


def _live_sockets(account_id: int, user_id: int, now: float) -> int:
    seen = _redis().hgetall(_key(account_id, user_id))
    return sum(1 for stamp in seen.values() if now - float(stamp) <= PRESENCE_TTL)


def _settle(account_id: int, user_id: int, *, connected: bool) -> str:
    """Write the availability that follows from the sockets and the person's own choice; tell routing when they
    came online."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(account_id=account_id, user_id=user_id).first()
        if membership is None:
            return Availability.OFFLINE
        wanted = (
            Availability.OFFLINE if not connected else Availability.BUSY if membership.busy else Availability.ONLINE
        )
        if membership.availability != wanted:
            Membership.objects.filter(pk=membership.pk).update(availability=wanted)
            if wanted == Availability.ONLINE:
                transaction.on_commit(lambda: came_online.send(Membership, account_id=account_id, user_id=user_id))
        return str(wanted)


def socket_joined(account_id: int, user_id: int, socket: str) -> str:
    key = _key(account_id, user_id)
    client = _redis()
    client.hset(key, socket, time.time())
    client.expire(key, PRESENCE_TTL * 2)
    return _settle(account_id, user_id, connected=True)


def socket_seen(account_id: int, user_id: int, socket: str) -> None:
    key = _key(account_id, user_id)
    client = _redis()
    client.hset(key, socket, time.time())
    client.expire(key, PRESENCE_TTL * 2)


def socket_left(account_id: int, user_id: int, socket: str) -> str:
    client = _redis()
    client.hdel(_key(account_id, user_id), socket)
    return _settle(account_id, user_id, connected=_live_sockets(account_id, user_id, time.time()) > 0)


def busy_set(membership: Membership, busy: bool) -> str:
    """The person says they are busy (no new assignments) or available again."""
    Membership.objects.filter(pk=membership.pk).update(busy=busy)
    connected = _live_sockets(membership.account_id, membership.user_id, time.time()) > 0
    return _settle(membership.account_id, membership.user_id, connected=connected)


def presence_sweep() -> int:
    """Turn offline everyone marked online or busy whose sockets all went quiet (a process died). Returns how
    many changed."""
    now = time.time()
    changed = 0
    for account_id, user_id in Membership.objects.exclude(availability=Availability.OFFLINE).values_list(
        "account_id", "user_id"
    ):
        quiet = _live_sockets(account_id, user_id, now) == 0
        if quiet and _settle(account_id, user_id, connected=False) == Availability.OFFLINE:
            changed += 1
    return changed

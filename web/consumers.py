"""The agents' websocket: one connection per open console tab, scoped to one account the user belongs to."""

from __future__ import annotations

import logging
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare

from accounts.models import Membership, User
from accounts.presence import socket_joined, socket_left, socket_seen
from accounts.realtime import user_group
from accounts.selectors import membership_for_user
from accounts.tenant_db import tenant_scope
from accounts.two_factor import session_owes_code
from channels_app.webchat import visitor_group
from inbox.events import inbox_group
from inbox.models import Conversation
from inbox.selectors import visible_inboxes

logger = logging.getLogger(__name__)

# Close codes in the 4000 range are ours; the browser shows them to the reconnect logic.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
# Besides being told at once (the per-person group), a socket re-reads its access before sending an event when
# its last check is older than this: a lost notification narrows access a few seconds late, never not at all.
ACCESS_RECHECK_SECONDS = 5.0


def account_group(account_id: int) -> str:
    return f"account.{account_id}"


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    """Relays realtime events of the account and of the inboxes the member may see; anyone else is refused."""

    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        account_id = int(self.scope["url_route"]["kwargs"]["account_id"])
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        session = self.scope.get("session")
        if session is not None and await database_sync_to_async(session_owes_code)(session):
            await self.close(code=CLOSE_UNAUTHENTICATED)  # signed in with a password, the two-factor code not given
            return
        membership = await database_sync_to_async(membership_for_user)(account_id=account_id, user=user)
        if membership is None:  # not a member: the same answer as for an account that does not exist
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.account_id = account_id
        self.user_id = user.pk
        self.user_name = user.display_name
        self.membership = membership
        self.session_key = getattr(session, "session_key", None)
        inbox_ids = await database_sync_to_async(_visible_inbox_ids)(membership)
        self.inbox_ids = set(inbox_ids)
        self.checked_at = time.monotonic()
        self.groups = [
            account_group(account_id),
            user_group(user.pk),
            *(inbox_group(inbox_id) for inbox_id in inbox_ids),
        ]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        availability = await database_sync_to_async(_presence)(socket_joined, account_id, user.pk, self.channel_name)
        await self.send_json(
            {
                "type": "hello",
                "account_id": account_id,
                "role": membership.role,
                "inbox_ids": inbox_ids,
                "availability": availability,
            }
        )

    async def disconnect(self, code: int) -> None:
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "account_id", None) is not None:
            await database_sync_to_async(_presence)(socket_left, self.account_id, self.user_id, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":  # the console pings every 25 s: this socket is still at its desk
            await database_sync_to_async(_presence)(socket_seen, self.account_id, self.user_id, self.channel_name)
            await self.send_json({"type": "pong"})
        elif content.get("type") == "typing":
            await self._typing(content.get("conversation_id"), to_customer=content.get("kind") == "message")

    async def _typing(self, conversation_id: Any, *, to_customer: bool) -> None:
        """An agent is writing in a conversation: tell the others looking at it (only within the inboxes this
        person may see; anything else is ignored) and, for a reply (never a private note, and only when the
        client says so), the customer's widget showing that very conversation."""
        if not isinstance(conversation_id, int):
            return
        found = await database_sync_to_async(_conversation_inbox)(self.account_id, conversation_id)
        if found is None or found[0] not in self.inbox_ids:
            return
        inbox_id, contact_id = found
        event = {
            "type": "typing",
            "account_id": self.account_id,
            "inbox_id": inbox_id,
            "conversation_id": conversation_id,
            "user_id": self.user_id,
            "name": self.user_name,
        }
        await self.channel_layer.group_send(
            inbox_group(inbox_id), {"type": "realtime.event", "event": event, "from": self.channel_name}
        )
        if not to_customer:
            return
        # The customer sees "typing" in the webchat widget, with the agent's first name only; the widget's socket
        # passes it on only when the conversation is the one it shows (a contact may have several).
        await self.channel_layer.group_send(
            visitor_group(self.account_id, contact_id),
            {
                "type": "webchat.event",
                "event": {"type": "typing", "name": self.user_name.split(" ")[0]},
                "inbox_id": inbox_id,
                "conversation_id": conversation_id,
            },
        )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """A message sent to the group with {"type": "realtime.event", "event": {...}}: sent on only while this
        person may still see its inbox."""
        if message.get("from") == self.channel_name:  # one's own typing is not news
            return
        if time.monotonic() - self.checked_at > ACCESS_RECHECK_SECONDS and not await self._recheck():
            return
        event = message["event"]
        inbox_id = event.get("inbox_id")
        if inbox_id is not None and inbox_id not in self.inbox_ids:
            return
        await self.send_json(event)

    async def access_changed(self, message: dict[str, Any]) -> None:
        """This person's membership, role, inboxes, account status or session changed: re-check now."""
        if await self._recheck():
            await self.send_json(
                {"type": "access.changed", "role": self.membership.role, "inbox_ids": sorted(self.inbox_ids)}
            )

    async def _recheck(self) -> bool:
        """Re-read what this socket may see; leave the groups of inboxes no longer visible (join new ones), or
        close when the session ended, the person was deactivated or left the account. False when closed."""
        access = await database_sync_to_async(_access)(self.session_key, self.account_id, self.user_id)
        if isinstance(access, int):
            await self._leave_all()
            await self.close(code=access)
            return False
        membership, inbox_ids = access
        wanted = set(inbox_ids)
        for inbox_id in self.inbox_ids - wanted:
            await self.channel_layer.group_discard(inbox_group(inbox_id), self.channel_name)
        for inbox_id in wanted - self.inbox_ids:
            await self.channel_layer.group_add(inbox_group(inbox_id), self.channel_name)
        self.groups = [account_group(self.account_id), user_group(self.user_id), *map(inbox_group, sorted(wanted))]
        self.membership, self.inbox_ids, self.checked_at = membership, wanted, time.monotonic()
        return True

    async def _leave_all(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups, self.inbox_ids = [], set()


def _presence(step: Any, account_id: int, user_id: int, socket: str) -> str | None:
    """Record the socket's presence; a Redis hiccup costs the presence figure, never the socket."""
    try:
        return step(account_id, user_id, socket)  # type: ignore[no-any-return]
    except Exception:
        logger.exception("presence %s failed for user %s", getattr(step, "__name__", step), user_id)
        return None


def _visible_inbox_ids(membership: Membership) -> list[int]:
    with tenant_scope(membership.account_id, membership.user_id):  # every socket read runs behind the second wall
        inboxes = visible_inboxes(account=membership.account, membership=membership)
        return list(inboxes.order_by("id").values_list("id", flat=True))


def _access(session_key: str | None, account_id: int, user_id: int) -> tuple[Membership, list[int]] | int:
    """(membership, visible inbox ids) while the session is still signed in as this active user and the user is
    still a member; else the close code."""
    if not session_key:
        return CLOSE_UNAUTHENTICATED
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if (
        user is None
        or str(session.get(SESSION_KEY)) != str(user_id)
        or not constant_time_compare(str(session.get(HASH_SESSION_KEY, "")), user.get_session_auth_hash())
        or session_owes_code(session)
    ):
        return CLOSE_UNAUTHENTICATED
    membership = membership_for_user(account_id=account_id, user=user)
    if membership is None:
        return CLOSE_NOT_FOUND
    return membership, _visible_inbox_ids(membership)


def _conversation_inbox(account_id: int, conversation_id: int) -> tuple[int, int] | None:
    with tenant_scope(account_id):
        return (
            Conversation.objects.filter(account_id=account_id, pk=conversation_id)
            .values_list("inbox_id", "contact_id")
            .first()
        )

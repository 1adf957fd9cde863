"""The agents' websocket: one connection per open console tab, scoped to one account the user belongs to."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.models import Membership
from accounts.selectors import membership_for_user
from channels_app.webchat import visitor_group
from inbox.events import inbox_group
from inbox.models import Conversation
from inbox.selectors import visible_inboxes

# Close codes in the 4000 range are ours; the browser shows them to the reconnect logic.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


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
        membership = await database_sync_to_async(membership_for_user)(account_id=account_id, user=user)
        if membership is None:  # not a member: the same answer as for an account that does not exist
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.account_id = account_id
        self.user_id = user.pk
        self.user_name = user.display_name
        self.membership = membership
        inbox_ids = await database_sync_to_async(_visible_inbox_ids)(membership)
        self.inbox_ids = set(inbox_ids)
        self.groups = [account_group(account_id), *(inbox_group(inbox_id) for inbox_id in inbox_ids)]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"type": "hello", "account_id": account_id, "role": membership.role, "inbox_ids": inbox_ids}
        )

    async def disconnect(self, code: int) -> None:
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        elif content.get("type") == "typing":
            await self._typing(content.get("conversation_id"))

    async def _typing(self, conversation_id: Any) -> None:
        """An agent is writing in a conversation: tell the others looking at it (only within the inboxes this
        person may see; anything else is ignored)."""
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
        # The customer sees "typing" in the webchat widget, with the agent's first name only.
        await self.channel_layer.group_send(
            visitor_group(self.account_id, contact_id),
            {"type": "webchat.event", "event": {"type": "typing", "name": self.user_name.split(" ")[0]}},
        )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """A message sent to the group with {"type": "realtime.event", "event": {...}}."""
        if message.get("from") == self.channel_name:  # one's own typing is not news
            return
        await self.send_json(message["event"])


def _visible_inbox_ids(membership: Membership) -> list[int]:
    inboxes = visible_inboxes(account=membership.account, membership=membership)
    return list(inboxes.order_by("id").values_list("id", flat=True))


def _conversation_inbox(account_id: int, conversation_id: int) -> tuple[int, int] | None:
    return (
        Conversation.objects.filter(account_id=account_id, pk=conversation_id)
        .values_list("inbox_id", "contact_id")
        .first()
    )

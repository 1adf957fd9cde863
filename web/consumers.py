"""The agents' websocket: one connection per open console tab, scoped to one account the user belongs to."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.models import Membership
from accounts.selectors import membership_for_user
from inbox.events import inbox_group
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
        inbox_ids = await database_sync_to_async(_visible_inbox_ids)(membership)
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

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """A message sent to the group with {"type": "realtime.event", "event": {...}}."""
        await self.send_json(message["event"])

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})


def _visible_inbox_ids(membership: Membership) -> list[int]:
    inboxes = visible_inboxes(account=membership.account, membership=membership)
    return list(inboxes.order_by("id").values_list("id", flat=True))

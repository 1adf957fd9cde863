"""The webchat visitor's websocket (/ws/webchat/<widget_token>/?session=...): messages both ways, typing both
ways, read receipts. Origins are checked against the endpoint's allowed origins, not the site's hosts."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from inbox.events import inbox_group

from . import webchat

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_UNAUTHENTICATED = 4401


def _lookup(widget_token: str, token: str) -> tuple[webchat.Visitor | None, int | None, str]:
    endpoint = webchat.endpoint_for(widget_token)
    if endpoint is None:
        return None, None, "not found"
    visitor = webchat.visitor_from_token(endpoint, token)
    contact = webchat.visitor_contact(visitor) if visitor else None
    return visitor, contact.pk if contact else None, ""


class WebchatConsumer(AsyncJsonWebsocketConsumer):
    visitor: webchat.Visitor
    group = ""

    async def connect(self) -> None:
        widget_token = self.scope["url_route"]["kwargs"]["widget_token"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        headers = dict(self.scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode()
        session = query.get("session", [""])[0]
        visitor, contact_id, missing = await database_sync_to_async(_lookup)(widget_token, session)
        if missing:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if visitor is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if origin and not webchat.origin_allowed(visitor.endpoint, origin):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.visitor = visitor
        await self.accept()
        if contact_id is not None:
            await self._join(contact_id)
        await self.send_json({"type": "hello", "visitor_id": visitor.visitor_id})

    async def _join(self, contact_id: int) -> None:
        group = webchat.visitor_group(self.visitor.endpoint.account_id, contact_id)
        if group != self.group:
            if self.group:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = group
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "message":
            await self._message(content)
        elif kind == "typing":
            await self._typing()
        elif kind == "seen" and isinstance(content.get("id"), int):
            await database_sync_to_async(webchat.mark_seen)(self.visitor, content["id"])

    async def _message(self, content: dict[str, Any]) -> None:
        client_id = str(content.get("client_id") or "")[:64]
        try:
            message = await database_sync_to_async(webchat.receive)(
                self.visitor, str(content.get("body") or ""), client_id=client_id
            )
        except webchat.WebchatError as exc:
            await self.send_json({"type": "error", "client_id": client_id, "code": exc.code, "message": exc.message})
            return
        await self._join(message.contact_id)
        shown = await database_sync_to_async(webchat.message_json)(message)
        await self.send_json({"type": "ack", "client_id": client_id, "message": shown})

    async def _typing(self) -> None:
        conversation = await database_sync_to_async(webchat.open_conversation)(self.visitor)
        if conversation is None:
            return
        event = {
            "type": "typing",
            "account_id": conversation.account_id,
            "inbox_id": conversation.inbox_id,
            "conversation_id": conversation.pk,
            "user_id": None,
            "name": "The customer",
        }
        group = inbox_group(conversation.inbox_id)
        await self.channel_layer.group_send(group, {"type": "realtime.event", "event": event})

    async def webchat_event(self, message: dict[str, Any]) -> None:
        """{"type": "webchat.event", "event": {...}} sent to the visitor's group: a reply, or an agent typing.
        The group is the contact's; this widget shows only its own inbox's conversation, so anything about
        another conversation of the same contact (another team's, or an older one) is not passed on."""
        inbox_id, conversation_id = message.get("inbox_id"), message.get("conversation_id")
        if inbox_id is not None and inbox_id != self.visitor.endpoint.inbox_id:
            return
        if conversation_id is not None:
            shown = await database_sync_to_async(webchat.open_conversation)(self.visitor)
            if shown is None or shown.pk != conversation_id:
                return
        await self.send_json(message["event"])

"""The next best channel to reach a customer on, with the reason in words.

Call when it is urgent and a phone is known; email when detail or attachments matter; SMS or WhatsApp for short
follow-up. Never a channel the contact opted out of, never free text on WhatsApp outside its 24-hour window (a
template, when it is the only way left), and webchat only while the visitor is still on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from inbox.models import Channel, Conversation, Message, Priority
from inbox.selectors import WHATSAPP_WINDOW
from memory.selectors import Recall

WEBCHAT_PRESENCE = timedelta(minutes=30)
DETAIL_LENGTH = 400


@dataclass(frozen=True)
class Suggestion:
    channel: str  # "" when there is no way to reach the customer
    reason: str


def _last_inbound(history: list[Message], conversation: Conversation, channel: str | None = None) -> Message | None:
    for message in reversed(history):
        ours = message.conversation_id == conversation.pk and message.direction == "in" and message.kind == "message"
        if ours and (channel is None or message.channel == channel):
            return message
    return None


def next_best_channel(memory: Recall, *, now: datetime) -> Suggestion:
    conversation = memory.current_conversation
    identities = {i.kind: i for i in memory.contact.identities.all() if i.opted_out_at is None}
    opted_out = sorted(i.kind for i in memory.contact.identities.all() if i.opted_out_at is not None)
    if conversation is None:
        return Suggestion("", "No conversation with this customer in this inbox yet.")
    available: list[str] = []
    if "phone" in identities:
        available += ["voice", "sms"]
    last_whatsapp = _last_inbound(memory.history, conversation, "whatsapp")
    if "whatsapp" in identities and last_whatsapp is not None and now - last_whatsapp.created_at <= WHATSAPP_WINDOW:
        available.append("whatsapp")
    if "email" in identities:
        available.append("email")
    last_chat = _last_inbound(memory.history, conversation, "webchat")
    if last_chat is not None and now - last_chat.created_at <= WEBCHAT_PRESENCE:
        available.append("webchat")
    note = f" ({', '.join(opted_out)} opted out)" if opted_out else ""
    if not available and "whatsapp" in identities:
        return Suggestion(
            "whatsapp", "WhatsApp's 24-hour window has closed: only an approved template reaches them now" + note
        )
    if not available:
        return Suggestion("", "No way to reach the customer outside this chat: ask for a phone number or email" + note)

    urgent = memory.conversation_sentiment.urgent or conversation.priority >= Priority.HIGH
    last = _last_inbound(memory.history, conversation)
    detailed = last is not None and (len(last.body) > DETAIL_LENGTH or bool(last.attachments.all()))
    if urgent and "voice" in available:
        return Suggestion("voice", "It is urgent and a phone number is known: a call resolves it fastest" + note)
    if detailed and "email" in available:
        return Suggestion("email", "The customer sent detail or attachments: email keeps it all in one place" + note)
    if conversation.active_channel in available and conversation.active_channel != "voice":
        label = Channel(conversation.active_channel).label
        return Suggestion(conversation.active_channel, f"The customer is writing on {label}: follow up there" + note)
    for channel, reason in (
        ("sms", "A short SMS follow-up reaches them on the phone number we have"),
        ("whatsapp", "They wrote on WhatsApp within 24 hours: follow up there"),
        ("email", "Email is the only address we have"),
        ("webchat", "The visitor is still on the chat"),
    ):
        if channel in available:
            return Suggestion(channel, reason + note)
    return Suggestion("voice", "A call is the only way we have to reach them" + note)

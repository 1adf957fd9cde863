"""Small helpers for the console's templates: channel icons, compact times, sentiment words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def folders_of(conversation: Any) -> list[str]:
    from web.selectors import folders_of as folders

    return folders(conversation)


# 16x16 outline icons (paths written for Continuum), one per channel.
_ICONS = {
    "sms": "M2 3h12v8H6l-3 3v-3H2z",
    "whatsapp": "M8 1.5a6.5 6.5 0 0 0-5.6 9.8L1.5 14.5l3.3-.9A6.5 6.5 0 1 0 8 1.5z",
    "voice": "M4 1.5l2.5 3-1.5 1.5a8 8 0 0 0 5 5l1.5-1.5 3 2.5-1.5 2.5C7 14 2 9 1.5 3z",
    "email": "M1.5 3.5h13v9h-13zM1.5 3.5 8 9l6.5-5.5",
    "webchat": "M2 2.5h12v8H9l-3 3v-3H2zM5 6.5h.01M8 6.5h.01M11 6.5h.01",
    "messenger": (
        "M8 1.5c-3.6 0-6.5 2.7-6.5 6 0 1.9.9 3.5 2.4 4.6v2.4l2.2-1.2c.6.2 1.2.2 1.9.2 3.6 0 6.5-2.7 6.5-6"
        "s-2.9-6-6.5-6zM4.5 9.5 7 7l1.5 1.5L11.5 6"
    ),
    "instagram": (
        "M4 1.5h8A2.5 2.5 0 0 1 14.5 4v8a2.5 2.5 0 0 1-2.5 2.5H4A2.5 2.5 0 0 1 1.5 12V4A2.5 2.5 0 0 1 4 1.5z"
        "M8 5.2a2.8 2.8 0 1 0 0 5.6 2.8 2.8 0 0 0 0-5.6zM11.8 4.2h.01"
    ),
    "internal": "M3 13.5V3h10v7.5H6z",
}
_LABELS = {
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "voice": "Phone call",
    "email": "Email",
    "webchat": "Webchat",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "internal": "Internal",
}


@register.simple_tag
def channel_icon(channel: str) -> SafeString:
    path = _ICONS.get(channel, _ICONS["internal"])
    label = _LABELS.get(channel, channel)
    return format_html(
        '<svg class="icon icon-{}" viewBox="0 0 16 16" width="16" height="16" role="img" aria-label="{}">'
        "<title>{}</title>"
        '<path d="{}" fill="none" stroke="currentColor" stroke-width="1.4" stroke-linejoin="round"/></svg>',
        channel,
        label,
        label,
        path,
    )


@register.filter
def channel_label(channel: str) -> str:
    return _LABELS.get(channel, channel)


@register.filter
def short_time(value: datetime | None) -> str:
    """14:05 today, Mon 14:05 within the week, 3 Nov otherwise (the full time is in the title attribute)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    now = timezone.localtime()
    if local.date() == now.date():
        return local.strftime("%H:%M")
    if (now - local).days < 6:
        return local.strftime("%a %H:%M")
    if local.year == now.year:
        return f"{local.day} {local:%b}"
    return f"{local.day} {local:%b %Y}"


@register.filter
def mood(score: float | None) -> str:
    if score is None:
        return "unknown"
    if score >= 0.05:
        return "positive"
    if score <= -0.05:
        return "negative"
    return "neutral"


@register.filter
def get_item(mapping: Any, key: object) -> object:
    """mapping[key] for a dict, or the item at an index of a list (None when there is none)."""
    if not mapping:
        return None
    if isinstance(mapping, list | tuple):
        return mapping[key] if isinstance(key, int) and 0 <= key < len(mapping) else None
    return mapping.get(key)


@register.filter
def duration(seconds: float | None) -> str:
    """42s, 7 min, 3 h 5 min, 2 d 4 h; a dash when there is nothing to average."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if total < 3600:
        return f"{minutes} min"
    if total < 86400:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


_AUDIT_WORDS = {
    "member.added": "added {member} to the account",
    "member.removed": "removed {member} from the account",
    "member.role_changed": "changed the role of {member}",
    "inbox.created": "created the inbox {name}",
    "inbox.updated": "changed the settings of an inbox ({fields})",
    "inbox.deleted": "deleted an inbox",
    "inbox.member_added": "added someone to an inbox",
    "inbox.member_removed": "removed someone from an inbox",
    "contact.created": "added a contact",
    "contact.updated": "edited a contact",
    "contact.merged": "merged contact {dropped} into contact {kept}",
    "contact.unmerged": "undid a merge (contact {dropped} is back)",
    "identity.added": "added an address to a contact",
    "identity.removed": "removed an address from a contact",
    "memory.fact_recorded": "the AI noted the {key} of a customer",
    "memory.fact_added": "added the {key} of a customer",
    "memory.fact_corrected": "corrected the {key} of a customer",
    "memory.fact_confirmed": "confirmed the {key} of a customer",
    "memory.fact_rejected": "rejected a value of {key}",
    "memory.handoff_recorded": "handed a conversation over",
    "memory.definition_created": "taught an inbox to remember {key}",
    "memory.definition_updated": "changed what an inbox remembers about {key}",
    "memory.definition_deleted": "stopped an inbox remembering {key}",
    "fact_definition.pattern_timeout": "an admin's pattern for {key} took too long and was skipped",
    "channels.endpoint_added": "connected {kind} {address}",
    "channels.endpoint_changed": "changed a channel",
    "channels.endpoint_removed": "disconnected a channel",
    "channels.event_replayed": "replayed a webhook event",
    "api_token.created": "created an API token",
    "api_token.revoked": "revoked an API token",
    "ai.settings_updated": "changed an inbox's AI agent",
    "ai.engine_updated": "changed the AI engine",
    "ai.playbook_ran": "ran a playbook",
    "label.created": "created the label {name}",
    "label.updated": "changed a label",
    "label.deleted": "deleted the label {name}",
    "canned.created": "added the canned response /{shortcut}",
    "canned.deleted": "deleted the canned response /{shortcut}",
}


@register.filter
def audit_words(entry: Any) -> str:
    """An audit record as a sentence: "Dana Whitfield corrected the policy_number of a customer"."""
    who = entry.actor.display_name if entry.actor is not None else "Continuum"
    data = {k: v for k, v in (entry.data or {}).items()} if isinstance(entry.data, dict) else {}
    if isinstance(data.get("fields"), list):
        data["fields"] = ", ".join(str(f) for f in data["fields"])
    template = _AUDIT_WORDS.get(entry.action)
    if template is None:
        return f"{who}: {entry.action.replace('.', ' ').replace('_', ' ')}"

    class _Blank(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "…"

    text = template.format_map(_Blank(data))
    return text[0].upper() + text[1:] if who == "Continuum" and template.startswith("the AI") else f"{who} {text}"


@register.filter
def identity_words(identity: Any) -> str:
    """How a person reads an identity: its address, except a webchat visitor, whose value is a random browser id
    that means nothing to anyone; that one is named by when the browser first wrote in."""
    if getattr(identity, "kind", "") != "webchat":
        return str(getattr(identity, "value", identity))
    local = timezone.localtime(identity.created_at)
    return f"A browser first seen {local.day} {local:%b %Y}"

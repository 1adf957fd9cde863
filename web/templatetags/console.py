"""Small helpers for the console's templates: channel icons, compact times, sentiment words."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# 16x16 outline icons (paths written for Continuum), one per channel.
_ICONS = {
    "sms": "M2 3h12v8H6l-3 3v-3H2z",
    "whatsapp": "M8 1.5a6.5 6.5 0 0 0-5.6 9.8L1.5 14.5l3.3-.9A6.5 6.5 0 1 0 8 1.5z",
    "voice": "M4 1.5l2.5 3-1.5 1.5a8 8 0 0 0 5 5l1.5-1.5 3 2.5-1.5 2.5C7 14 2 9 1.5 3z",
    "email": "M1.5 3.5h13v9h-13zM1.5 3.5 8 9l6.5-5.5",
    "webchat": "M2 2.5h12v8H9l-3 3v-3H2zM5 6.5h.01M8 6.5h.01M11 6.5h.01",
    "internal": "M3 13.5V3h10v7.5H6z",
}
_LABELS = {
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "voice": "Phone call",
    "email": "Email",
    "webchat": "Webchat",
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
def get_item(mapping: dict, key: object) -> object:  # type: ignore[type-arg]
    return mapping.get(key) if mapping else None


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

"""Where the AI listens to the inbox core: every stored customer message is queued for analysis."""

from __future__ import annotations

from typing import Any


def on_message_received(sender: Any, account_id: int, message_id: int, **kwargs: Any) -> None:
    from .tasks import analyze_message

    analyze_message.delay(account_id, message_id)

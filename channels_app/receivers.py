"""channels_app listens to the inbox core: every queued reply is handed to the delivery task."""

from __future__ import annotations

from typing import Any


def on_message_queued(sender: Any, account_id: int, message_id: int, **kwargs: Any) -> None:
    from .tasks import deliver_message

    deliver_message.delay(account_id, message_id)

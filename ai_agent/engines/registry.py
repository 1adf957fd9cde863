"""Which engine an account uses. Today every account uses the local engine; the per-account choice (local or
an OpenAI-compatible LLM) arrives with the AI settings."""

from __future__ import annotations

from functools import cache

from accounts.models import Account

from .base import Engine
from .local import LocalEngine


@cache
def _local() -> LocalEngine:
    return LocalEngine()


def engine_for(account: Account) -> Engine:
    return _local()

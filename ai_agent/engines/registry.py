"""Which engine an account uses: the local engine, or an OpenAI-compatible LLM configured in its AI settings."""

from __future__ import annotations

from functools import cache

from accounts.crypto import decrypt
from accounts.models import Account

from ..models import AccountAiSettings, EngineChoice
from .base import Engine
from .local import LocalEngine


@cache
def _local() -> LocalEngine:
    return LocalEngine()


def engine_for(account: Account) -> Engine:
    settings = AccountAiSettings.objects.filter(account=account).first()
    if settings is None or settings.engine != EngineChoice.LLM or not settings.llm_base_url or not settings.llm_model:
        return _local()
    from .llm import LLMEngine

    return LLMEngine(
        account=account,
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=decrypt(settings.llm_api_key_encrypted),
        timeout=settings.llm_timeout_seconds,
    )

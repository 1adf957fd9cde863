"""Reads for the AI agent: its settings, knowledge answers, and who is next in line for a handoff."""

from __future__ import annotations

import re
from datetime import datetime

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import QuerySet

from accounts.models import Account
from inbox.hours import is_open
from inbox.models import Inbox

from .models import KB_SEARCH_CONFIG, AgentSettings, AnswerMode, KnowledgeSnippet

# How well a snippet must match a customer's words before the agent answers with it.
KB_MIN_RANK = 0.05
_STOP = {
    "the",
    "a",
    "an",
    "is",
    "are",
    "do",
    "does",
    "you",
    "your",
    "i",
    "my",
    "me",
    "we",
    "to",
    "of",
    "on",
    "in",
    "for",
    "and",
    "or",
    "it",
    "can",
    "what",
    "how",
    "when",
    "where",
    "hi",
    "hello",
    "please",
    "there",
}


def agent_answers(inbox: Inbox, at: datetime) -> bool:
    """Whether the inbox's AI agent answers customers at `at`: enabled, and always or outside business hours when
    the team is out. Registered with inbox.routing: a conversation is the AI's only while this holds."""
    settings = AgentSettings.objects.filter(inbox=inbox).only("enabled", "answer_mode").first()
    if settings is None or not settings.enabled or settings.answer_mode == AnswerMode.NEVER:
        return False
    if settings.answer_mode == AnswerMode.AFTER_HOURS:
        return not is_open(inbox.business_hours, inbox.timezone, at)
    return True


def agent_settings_get(*, account: Account, inbox: Inbox) -> AgentSettings:
    """The inbox's settings (created with safe defaults, agent off, on first use)."""
    settings, _ = AgentSettings.objects.get_or_create(account=account, inbox=inbox)
    return settings


def knowledge_list(*, account: Account, inbox: Inbox) -> QuerySet[KnowledgeSnippet]:
    return KnowledgeSnippet.objects.filter(account=account, inbox=inbox).order_by("question", "id")


def knowledge_answer(*, account: Account, inbox: Inbox, text: str) -> KnowledgeSnippet | None:
    """The snippet that best answers `text`, if one matches well enough (any of its meaningful words)."""
    words = [w for w in re.findall(r"[a-zA-Z0-9]{2,}", text.lower()) if w not in _STOP][:12]
    if not words:
        return None
    query = SearchQuery(" | ".join(words), config=KB_SEARCH_CONFIG, search_type="raw")
    vector = SearchVector("question", "answer", config=KB_SEARCH_CONFIG)
    return (
        knowledge_list(account=account, inbox=inbox)
        .annotate(match=vector)
        .filter(match=query)
        .annotate(rank=SearchRank(vector, query))
        .filter(rank__gte=KB_MIN_RANK)
        .order_by("-rank", "id")
        .first()
    )

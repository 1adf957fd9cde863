"""Reads for the AI agent: its settings, knowledge answers, and who is next in line for a handoff."""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import QuerySet

from accounts.models import Account, User
from inbox.models import Inbox, InboxMember

from .models import KB_SEARCH_CONFIG, AgentSettings, KnowledgeSnippet

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


def next_assignee(*, account: Account, inbox: Inbox, after: int | None) -> User | None:
    """Round robin over the inbox's members, by user id, starting after the last one assigned."""
    members = list(
        InboxMember.objects.filter(account=account, inbox=inbox, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    if not members:
        return None
    for member in members:
        if after is None or member.user_id > after:
            return member.user
    return members[0].user

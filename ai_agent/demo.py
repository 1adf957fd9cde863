"""The demo account's AI agent: on in Support outside business hours, with a few answers it may give."""

from __future__ import annotations

from accounts.models import Account
from inbox.models import Inbox

from .models import AgentSettings, AnswerMode, KnowledgeSnippet

SNIPPETS = [
    ("What are your opening hours?", "We're open Monday to Friday, 8:00 to 18:00 (Chicago time)."),
    (
        "Do you do emergency call-outs at night or on weekends?",
        "Yes: for leaks and floods we send an on-call plumber within 2 hours, day and night.",
    ),
    ("How much does a visit cost?", "A standard visit is $89, including the first 30 minutes of work."),
]


def seed_demo_agent(*, account: Account) -> None:
    support = Inbox.objects.filter(account=account, name="Support").first()
    if support is None:
        return
    AgentSettings.objects.get_or_create(
        account=account,
        inbox=support,
        defaults={"enabled": True, "answer_mode": AnswerMode.AFTER_HOURS, "persona_name": "Ava"},
    )
    if not KnowledgeSnippet.objects.filter(account=account, inbox=support).exists():
        KnowledgeSnippet.objects.bulk_create(
            KnowledgeSnippet(account=account, inbox=support, question=q, answer=a) for q, a in SNIPPETS
        )

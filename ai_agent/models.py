"""The AI agent's settings per inbox, and the knowledge base it may answer from."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.utils.timezone import now

from accounts.models import Account
from inbox.models import Inbox

KB_SEARCH_CONFIG = "english"


class AnswerMode(models.TextChoices):
    ALWAYS = "always", "Always"
    AFTER_HOURS = "after_hours", "Outside business hours only"
    NEVER = "never", "Never"


class Assignment(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin among the inbox's members"
    UNASSIGNED = "unassigned", "Leave unassigned"


class AgentSettings(models.Model):
    """How the AI agent behaves in one inbox. Admins edit these; defaults are safe (the agent is off)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="agent_settings")
    enabled = models.BooleanField(default=False)
    answer_mode = models.CharField(max_length=16, choices=AnswerMode.choices, default=AnswerMode.AFTER_HOURS)
    persona_name = models.CharField(max_length=60, default="Assistant")
    greeting = models.CharField(
        max_length=500,
        default="Hi! I'm {persona}, the virtual assistant of {inbox}. I'll take your details so the "
        "team can pick this up without asking again.",
    )
    after_hours_message = models.CharField(
        max_length=500, default="Thanks, I've passed everything to the team. Someone will follow up when we open."
    )
    handoff_message = models.CharField(
        max_length=500, default="Thanks! I'm handing you over to a member of the team, who has all the details."
    )
    # Handoff rules
    handoff_on_request = models.BooleanField(default=True, help_text="The customer asks for a person.")
    handoff_below_sentiment = models.FloatField(default=-0.5, help_text="The customer's mood falls below this.")
    handoff_on_urgent = models.BooleanField(default=True)
    max_turns_without_progress = models.PositiveSmallIntegerField(default=3)
    handoff_on_unknown_question = models.BooleanField(default=True)
    handoff_when_collected = models.BooleanField(default=True, help_text="All required facts are known.")
    assignment = models.CharField(max_length=16, choices=Assignment.choices, default=Assignment.ROUND_ROBIN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "agent settings"

    def __str__(self) -> str:
        return f"AI agent of inbox {self.inbox_id}"


class KnowledgeSnippet(models.Model):
    """A question and the answer the agent may give, searched with PostgreSQL full-text search."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="knowledge")
    question = models.CharField(max_length=300)
    answer = models.TextField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            GinIndex(SearchVector("question", "answer", config=KB_SEARCH_CONFIG), name="kb_fts"),
            models.Index(fields=["account", "inbox"], name="kb_inbox"),
        ]

    def __str__(self) -> str:
        return self.question


class EngineChoice(models.TextChoices):
    LOCAL = "local", "Local (offline, free)"
    LLM = "llm", "LLM (OpenAI-compatible API)"


class AccountAiSettings(models.Model):
    """Which engine an account's AI uses. The LLM's API key is stored encrypted (accounts.crypto)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="ai_settings")
    engine = models.CharField(max_length=8, choices=EngineChoice.choices, default=EngineChoice.LOCAL)
    llm_base_url = models.URLField(blank=True, help_text="e.g. https://api.openai.com/v1 or http://localhost:11434/v1")
    llm_model = models.CharField(max_length=100, blank=True)
    llm_api_key_encrypted = models.TextField(blank=True)
    llm_timeout_seconds = models.FloatField(default=20.0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"AI settings of account {self.account_id}"


class AiUsage(models.Model):
    """One call to an LLM: tokens spent, and whether its answer was used (else the local engine's was)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    engine = models.CharField(max_length=120)
    purpose = models.CharField(max_length=32)  # analyze, note
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["account", "-created_at"], name="ai_usage_recent")]

    def __str__(self) -> str:
        return f"{self.engine} {self.purpose} ({'ok' if self.ok else 'failed'})"


class PlaybookTrigger(models.TextChoices):
    WAITING = "waiting", "Waiting on the customer for"
    HANDOFF_UNANSWERED = "handoff_unanswered", "Handoff not picked up for"
    # a response-time target: the customer's latest message has had no answer (from a person or the AI)
    CUSTOMER_UNANSWERED = "customer_unanswered", "Customer's message unanswered for"
    RESOLVED = "resolved", "Resolved for"


class PlaybookAction(models.TextChoices):
    REMIND = "remind", "Send the message (a reminder) on the active channel"
    RESOLVE = "resolve", "Resolve the conversation"
    ESCALATE = "escalate", "Escalate and notify the admins"
    SATISFACTION = "satisfaction", "Send the message (a satisfaction check)"


class Playbook(models.Model):
    """A follow-up rule of an inbox, run by beat: "waiting on the customer 24 h -> send a reminder"."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="playbooks")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    trigger = models.CharField(max_length=24, choices=PlaybookTrigger.choices)
    after_minutes = models.PositiveIntegerField()
    action = models.CharField(max_length=16, choices=PlaybookAction.choices)
    message = models.CharField(max_length=1000, blank=True, help_text="what remind and satisfaction send")
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["enabled", "trigger"], name="playbook_due")]

    def __str__(self) -> str:
        return self.name


class PlaybookRun(models.Model):
    """A playbook step done for a conversation. Unique per anchor (the moment the wait began), so each step runs
    once per wait; a customer's reply starts a new wait."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="+")
    anchor = models.DateTimeField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["playbook", "conversation", "anchor"], name="playbook_run_once")]

    def __str__(self) -> str:
        return f"{self.playbook_id} on {self.conversation_id}"

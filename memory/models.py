"""Shared Memory records: fact definitions, customer facts, AI notes, sentiment readings and handoffs.

Every record names its account, contact and inbox (facts may be shared across the account's inboxes instead),
the conversation and source message(s) where it applies, and its author: an AI engine with its version, or a
person.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from accounts.models import Account
from contacts.models import Contact
from inbox.models import Conversation, Inbox, Message

from .kinds import KIND_HELP, KINDS


class AuthorType(models.TextChoices):
    AI = "ai", "AI engine"
    USER = "user", "Person"


class Authored(models.Model):
    """Provenance: who wrote a record. An AI engine is named with its version, e.g. "local/1"."""

    author_type = models.CharField(max_length=8, choices=AuthorType.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    engine = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        abstract = True

    @property
    def author_label(self) -> str:
        if self.author_type == AuthorType.AI and self.engine == "pre-chat form":
            verified = getattr(self, "confirmed_by_id", None) is not None  # a person checked it (e.g. merged)
            return f"the customer, in the chat's pre-chat form ({'confirmed' if verified else 'unverified'})"
        if self.author_type == AuthorType.AI:
            return f"AI ({self.engine})" if self.engine else "AI"
        return self.author_user.display_name if self.author_user is not None else "a former member"


class FactDefinition(models.Model):
    """What an inbox should remember about its customers: admins teach it keys such as `invoice_number`."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="fact_definitions")
    key = models.SlugField(max_length=64)
    label = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True, help_text="What it is and where customers find it.")
    # A regular expression the value must match (and which the AI uses to find it in messages).
    pattern = models.CharField(max_length=300, blank=True)
    value_type = models.CharField(max_length=8, choices=KINDS, default="text", help_text=KIND_HELP)
    shared = models.BooleanField(default=False, help_text="Visible to every inbox of the account.")
    required_before_handoff = models.BooleanField(default=False)
    # After this many days a value may no longer hold (an address after a year): it is marked stale and the AI
    # asks the customer to confirm it rather than asking from scratch. Empty: it never goes stale.
    shelf_life_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inbox", "key"], name="fact_definition_unique")]
        indexes = [models.Index(fields=["account", "inbox"], name="factdef_inbox")]

    def __str__(self) -> str:
        return f"{self.key} ({self.inbox_id})"


class FactStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUPERSEDED = "superseded", "Superseded"
    REJECTED = "rejected", "Rejected"


class Fact(Authored):
    """One value of one key about a contact. Scope: `inbox`, or none when the key is shared by the account.

    At most one active fact per contact, scope and key; a new value supersedes the old, which stays as history.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="facts")
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    key = models.SlugField(max_length=64)
    value = models.CharField(max_length=500)
    confidence = models.FloatField(default=1.0)
    status = models.CharField(max_length=12, choices=FactStatus.choices, default=FactStatus.ACTIVE)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The customer said the value still holds (the AI asked because it had passed its definition's shelf life).
    renewed_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(default=now)
    # Where the value was learned (kept when the source message goes): a shared fact seen from another inbox says
    # "learned in another inbox, on <channel>, <when>" and nothing more (memory.selectors.fact_provenance).
    origin_inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    origin_channel = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "contact", "inbox", "key", "-created_at"], name="fact_scope")]
        constraints = [
            # Merges move facts generically: two active facts for one key can meet; the merge step keeps one.
            models.CheckConstraint(condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="fact_confidence_range"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    @property
    def fresh_since(self) -> datetime:
        """When the value was last known to hold: learned, confirmed by a person, or renewed by the customer."""
        return max(t for t in (self.created_at, self.confirmed_at, self.renewed_at) if t is not None)

    @property
    def is_shared(self) -> bool:
        return self.inbox_id is None

    @property
    def protected(self) -> bool:
        """Entered, confirmed or corrected by a person: the AI never replaces it."""
        return self.author_type == AuthorType.USER or self.confirmed_by_id is not None


class AiNote(Authored):
    """The conversation's working summary: the customer's need, where it stands, the next step, open
    questions. One current version per conversation; earlier versions are kept."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="ai_notes")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="ai_notes")
    version = models.PositiveIntegerField()
    need = models.TextField(blank=True)
    status = models.TextField(blank=True)
    next_step = models.TextField(blank=True)
    open_questions = models.JSONField(default=list, blank=True)
    source_message_ids = models.JSONField(default=list, blank=True)
    is_current = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "version"], name="note_version_unique"),
            models.UniqueConstraint(fields=["conversation"], condition=Q(is_current=True), name="note_one_current"),
        ]
        indexes = [models.Index(fields=["account", "contact", "inbox", "-created_at"], name="note_scope")]

    def __str__(self) -> str:
        return f"note v{self.version} of conversation {self.conversation_id}"


class SentimentLabel(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class SentimentReading(models.Model):
    """How a customer's message reads, from -1 (very negative) to 1 (very positive)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="sentiment_readings")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sentiment_readings")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="sentiment")
    score = models.FloatField()
    label = models.CharField(max_length=8, choices=SentimentLabel.choices)
    engine = models.CharField(max_length=64)
    language = models.CharField(
        max_length=8, blank=True, help_text='ISO 639-1 of the message ("" undetermined: too short to tell).'
    )
    created_at = models.DateTimeField(default=now, help_text="When the customer wrote the message.")

    class Meta:
        indexes = [
            models.Index(fields=["account", "contact", "inbox", "-created_at"], name="sentiment_scope"),
            models.Index(fields=["conversation", "-created_at"], name="sentiment_conversation"),
        ]
        constraints = [models.CheckConstraint(condition=Q(score__gte=-1) & Q(score__lte=1), name="sentiment_range")]

    def __str__(self) -> str:
        return f"{self.label} {self.score:+.2f}"


class Handoff(Authored):
    """Why a conversation changed hands, and everything the next owner needs so the customer is not asked
    again. Visible in the inbox it left and the inbox it went to."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="handoffs")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="handoffs")
    from_inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    to_inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    # The conversation opened in `to_inbox` when the handoff moved the customer to another team.
    to_conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_party = models.CharField(max_length=64, help_text='"AI agent" or the person handing off')
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    # {"questions_asked": [...], "facts_collected": [keys], "replies_sent": n, "actions": [...]}
    what_was_done = models.JSONField(default=dict, blank=True)
    missing = models.JSONField(default=list, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    sentiment_label = models.CharField(max_length=8, blank=True)
    suggested_next_step = models.TextField(blank=True)
    suggested_channel = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "contact", "from_inbox", "-created_at"], name="handoff_from"),
            models.Index(fields=["account", "contact", "to_inbox", "-created_at"], name="handoff_to"),
        ]

    def __str__(self) -> str:
        return f"handoff of conversation {self.conversation_id}"

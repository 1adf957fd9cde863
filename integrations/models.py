"""Outbound webhook subscriptions and every delivery attempt's outcome."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from accounts.models import Account, User


class WebhookEvent(models.TextChoices):
    MESSAGE_CREATED = "message.created", "A message, note or activity line was added"
    CONVERSATION_UPDATED = "conversation.updated", "A conversation changed (status, owner, priority, inbox)"
    HANDOFF_CREATED = "handoff.created", "The AI or a person handed a conversation over"
    MEMORY_UPDATED = "memory.updated", "Shared memory changed (a fact, the AI note, a sentiment reading)"
    CSAT_CREATED = "csat.created", "A customer rated the conversation"


class WebhookSubscription(models.Model):
    """An address that receives the account's events, signed with its own secret (encrypted at rest)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    secret_encrypted = models.TextField()
    enabled = models.BooleanField(default=True)
    # failed attempts since the last success; at WEBHOOK_DISABLE_AFTER the subscription turns itself off
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    RETRYING = "retrying", "Failed, will retry"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed for good"


class WebhookDelivery(models.Model):
    """One event for one subscription: the exact body sent, each attempt's answer, and when to try again."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40)  # the same for every attempt and replay: receivers deduplicate on it
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # while an attempt is under way (set and cleared in short transactions; the request holds none open)
    leased_until = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)  # the first 2 KB of the last answer
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["subscription", "-created_at"], name="delivery_recent"),
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} ({self.state})"


class ImportState(models.TextChoices):
    MAPPING = "mapping", "Waiting for the column mapping"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContactImport(models.Model):
    """A CSV of contacts: uploaded, mapped column by column, then imported row by row with a report of what was
    created, matched to an existing contact (and completed) or refused, and why."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filename = models.CharField(max_length=200, blank=True)
    content = models.TextField()  # the decoded CSV, kept until the import is done
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)  # column header -> name, phone, email, whatsapp, labels, attribute:<key>
    state = models.CharField(max_length=10, choices=ImportState.choices, default=ImportState.MAPPING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list)  # [{"row": n, "outcome": "matched"|"refused"|..., "detail": "..."}]
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.filename} ({self.state})"

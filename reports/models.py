"""One row per account, day (UTC) and slice: the slice is an inbox with an agent and a channel (`label` empty),
or an inbox with a label (agent and channel empty). Sums and counts, so any range and grouping is a SUM."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Account
from inbox.models import Inbox, Label


class ReportDay(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, blank=True)
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    opened = models.PositiveIntegerField(default=0)
    opened_by_ai = models.PositiveIntegerField(default=0)  # started while an AI agent answered
    resolved = models.PositiveIntegerField(default=0)
    resolved_by_ai = models.PositiveIntegerField(default=0)  # resolved without ever reaching a person
    handoffs = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    first_response_seconds = models.FloatField(default=0)  # business hours only
    resolution_seconds = models.FloatField(default=0)  # business hours only
    sentiment_sum = models.FloatField(default=0)
    sentiment_count = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["account", "day"], name="report_account_day")]

    def __str__(self) -> str:
        return f"{self.day} inbox {self.inbox_id}"

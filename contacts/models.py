"""Contacts (the people a business talks to) and their channel identities (phone, email, WhatsApp, webchat)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.utils.timezone import now

from accounts.models import Account

# Full-text search configuration for names: 'simple' (no stemming): names are not English words.
NAME_SEARCH_CONFIG = "simple"


class Contact(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Custom attributes set by the team.")
    created_at = models.DateTimeField(default=now)
    last_activity_at = models.DateTimeField(default=now)
    # Set when this contact was merged into another: the row stays so that old links find their way.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    merged_at = models.DateTimeField(null=True, blank=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["account", "-last_activity_at", "-id"], name="contact_recent"),
            GinIndex(SearchVector("name", config=NAME_SEARCH_CONFIG), name="contact_name_fts"),
        ]

    def __str__(self) -> str:
        return self.name or f"Contact {self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or "Unknown"


class IdentityKind(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    WHATSAPP = "whatsapp", "WhatsApp"
    WEBCHAT = "webchat", "Webchat"
    MESSENGER = "messenger", "Messenger"  # a page-scoped id (PSID)
    INSTAGRAM = "instagram", "Instagram"  # an Instagram-scoped id (IGSID)


class ContactIdentity(models.Model):
    """One address at which a contact is reached. `value` is normalized (phones E.164, emails with a lower-case
    domain) and unique per account and kind: the same address is always the same contact."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    value = models.CharField(max_length=320)
    created_at = models.DateTimeField(default=now)
    # STOP/START keywords (SMS, WhatsApp): nothing is sent to an opted-out address.
    opted_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "value"], name="identity_unique_per_account"),
        ]
        indexes = [
            models.Index(fields=["account", "value"], name="identity_value"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

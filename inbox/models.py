"""Inboxes (a team's workspace), their members, conversations that continue across channels, and messages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from accounts.models import Account
from contacts.models import Contact

# Message bodies are searched with English stemming ("refunds" finds "refund").
BODY_SEARCH_CONFIG = "english"


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    VOICE = "voice", "Phone call"
    EMAIL = "email", "Email"
    WEBCHAT = "webchat", "Webchat"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    INTERNAL = "internal", "Internal"  # private notes and activity lines: never leave Continuum


CUSTOMER_CHANNELS = [c for c in Channel.values if c != Channel.INTERNAL]
CUSTOMER_CHANNEL_CHOICES = [(c.value, c.label) for c in Channel if c != Channel.INTERNAL]


class Inbox(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="inboxes")
    name = models.CharField(max_length=100)
    purpose = models.TextField(blank=True, help_text="What this team handles; shown to agents and the AI.")
    timezone = models.CharField(max_length=64, default="UTC")
    # {"mon": [["09:00", "17:00"]], "tue": [...], ...}; a missing day is closed. Empty: always open.
    business_hours = models.JSONField(default=dict, blank=True)
    reopen_window_hours = models.PositiveIntegerField(
        default=24, help_text="A message within this many hours of resolving reopens that conversation."
    )
    # Routing: new work a person handles goes round robin to the inbox's online members, each holding at most
    # `assign_capacity` open conversations (0: no limit); `assign_cursor` is the last one given work.
    auto_assign = models.BooleanField(
        default=True, help_text="Hand new conversations round robin to the inbox's members who are online."
    )
    assign_capacity = models.PositiveSmallIntegerField(
        default=0, help_text="Most open conversations one person is given automatically (0: no limit)."
    )
    assign_cursor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    csat_enabled = models.BooleanField(
        default=False, help_text="After a person resolves a conversation, ask the customer for a 1-5 rating."
    )
    email_signature = models.TextField(
        blank=True,
        max_length=2000,
        help_text="Added under every email from this inbox (after the writer's own); {agent_name}, "
        "{agent_first_name}, {inbox_name} and {business_name} are filled in.",
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="inbox_name_unique")]
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return self.name


class InboxMember(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_memberships")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inbox", "user"], name="inbox_member_unique")]
        indexes = [models.Index(fields=["account", "user"], name="inbox_member_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in inbox {self.inbox_id}"


class ConversationCounter(models.Model):
    """The last conversation number handed out in an account (numbers are per account: #1, #2, ...)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_number = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"account {self.account_id}: #{self.last_number}"


class Status(models.TextChoices):
    LIVE = "live", "Live"
    WAITING = "waiting", "Waiting on customer"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"


class HandledBy(models.TextChoices):
    AI = "ai", "AI agent"
    HUMAN = "human", "Human"


class Priority(models.IntegerChoices):
    NONE = 0, "None"
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class Conversation(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    number = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LIVE)
    handled_by = models.CharField(max_length=8, choices=HandledBy.choices, default=HandledBy.AI)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NONE)
    active_channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEBCHAT)
    last_activity_at = models.DateTimeField(default=now)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=200, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    # Folded into another conversation of the same inbox when their contacts were merged: a pointer, so old links
    # lead to the conversation that continues (undone with the merge).
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="conversation_number_unique")]
        indexes = [
            models.Index(fields=["account", "-last_activity_at", "-id"], name="conv_recent"),
            models.Index(fields=["account", "status", "-last_activity_at", "-id"], name="conv_status_recent"),
            models.Index(fields=["account", "inbox", "-last_activity_at", "-id"], name="conv_inbox_recent"),
            models.Index(fields=["account", "inbox", "status", "-last_activity_at", "-id"], name="conv_inbox_status"),
            models.Index(fields=["account", "assignee", "-last_activity_at", "-id"], name="conv_assignee"),
            models.Index(fields=["account", "contact", "inbox", "-last_activity_at"], name="conv_contact"),
        ]

    def __str__(self) -> str:
        return f"#{self.number}"


class Direction(models.TextChoices):
    IN = "in", "Inbound"
    OUT = "out", "Outbound"


class Kind(models.TextChoices):
    MESSAGE = "message", "Message"
    NOTE = "note", "Private note"
    ACTIVITY = "activity", "Activity"


class SenderType(models.TextChoices):
    CONTACT = "contact", "Contact"
    USER = "user", "Team member"
    AI = "ai", "AI agent"
    SYSTEM = "system", "System"


COMPOSE_KIND_CHOICES = [(Kind.MESSAGE.value, Kind.MESSAGE.label), (Kind.NOTE.value, Kind.NOTE.label)]


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class MessageManager(models.Manager["Message"]):
    def get_queryset(self) -> models.QuerySet[Message]:
        # The stored text-search vector is for the search's index lookup only: never carried into Python.
        return super().get_queryset().defer("search_vector")


class Message(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # The conversation's contact and inbox, kept on the message so that a contact's timeline, and an inbox's
    # history of a contact, are one index scan. A conversation never changes inbox (moving a customer to
    # another team opens a new conversation there), so the copy cannot go stale.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MESSAGE)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    sender_type = models.CharField(max_length=8, choices=SenderType.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(blank=True)
    # The channel endpoint (its public id) and the provider's message id: a provider's retry is a no-op.
    provider_endpoint = models.CharField(max_length=64, blank=True)
    provider_id = models.CharField(max_length=128, blank=True)
    delivery_status = models.CharField(max_length=16, choices=DeliveryStatus.choices, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The conversation's state when this message was written: the timeline shows status and owner at each point.
    conversation_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    conversation_handled_by = models.CharField(max_length=8, choices=HandledBy.choices, blank=True)
    conversation_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    # The body's words, computed by PostgreSQL on write and stored: the text index's matches are checked against it
    # without stemming every candidate's body again (a common word's matches in a 10M-message account took minutes
    # as an expression index, docs/performance.md).
    search_vector = models.GeneratedField(
        expression=SearchVector("body", config=BODY_SEARCH_CONFIG), output_field=SearchVectorField(), db_persist=True
    )

    objects = MessageManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "provider_endpoint", "provider_id"],
                condition=~Q(provider_id=""),
                name="message_provider_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "-created_at", "-id"], name="msg_thread"),
            models.Index(fields=["account", "contact", "-created_at", "-id"], name="msg_contact_timeline"),
            models.Index(fields=["account", "contact", "inbox", "-created_at", "-id"], name="msg_contact_inbox"),
            # the account's newest messages: where the search looks for a common word first
            models.Index(fields=["account", "-created_at", "-id"], name="msg_account_recent"),
            GinIndex(fields=["search_vector"], name="msg_search"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} {self.pk}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.account_id}/{now():%Y/%m}/{filename}"


class Attachment(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.filename


class ConversationRead(models.Model):
    """Up to when a team member has read a conversation: a conversation is unread for them while the customer
    wrote after `read_at` (or they never opened it)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="conversation_read_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} at {self.read_at:%Y-%m-%d %H:%M}"


class NotificationKind(models.TextChoices):
    MENTION = "mention", "Mentioned in a note"
    ASSIGNMENT = "assignment", "Assigned to you"
    HANDOFF = "handoff", "Handed over by the AI agent"
    SNOOZE = "snooze", "Snooze ended"
    ESCALATION = "escalation", "Waiting too long"
    INTEGRATION = "integration", "An integration turned off"


class Notification(models.Model):
    """Something one person should see: shown in their notification centre (unread until opened or marked),
    pushed live to their open consoles, and mailed in the digest if still unread."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "user", "-created_at"], name="notification_user_recent"),
            models.Index(fields=["user", "created_at"], name="notification_unread", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.text}"


class Label(models.Model):
    """A coloured tag teams put on conversations and contacts ("VIP", "refund", "lead"), to filter and report."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=50)
    colour = models.CharField(max_length=7, default="#4f46e5", help_text="#rrggbb")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="label_name_unique")]

    def __str__(self) -> str:
        return self.name


class ConversationLabel(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="labellings")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "label"], name="conversation_label_unique")]
        indexes = [models.Index(fields=["account", "label"], name="conversation_label_label")]

    def __str__(self) -> str:
        return f"{self.label_id} on conversation {self.conversation_id}"


class ContactLabel(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="labellings")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "label"], name="contact_label_unique")]

    def __str__(self) -> str:
        return f"{self.label_id} on contact {self.contact_id}"


class CannedResponse(models.Model):
    """A saved reply an agent inserts with "/shortcut" in the composer. Variables in double braces are filled
    for the conversation at hand: {{contact.first_name}}, {{contact.name}}, {{agent.name}}, {{agent.first_name}},
    {{inbox.name}}, {{account.name}}. An inbox's own responses are offered in that inbox; account-wide ones in
    every inbox."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    shortcut = models.SlugField(max_length=40)
    body = models.TextField(max_length=5000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "inbox", "shortcut"], name="canned_shortcut_unique"),
            models.UniqueConstraint(
                fields=["account", "shortcut"], condition=Q(inbox__isnull=True), name="canned_shortcut_account_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class CsatSurvey(models.Model):
    """One "how did we do?" after a conversation was resolved: asked on its channel (a link for webchat and email,
    a reply digit for SMS and WhatsApp), answered once with a rating of 1-5 and an optional comment."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="surveys")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    token = models.CharField(max_length=64, unique=True)
    sent_at = models.DateTimeField(default=now)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, max_length=2000)
    rated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "inbox", "rated_at"], name="csat_inbox_rated"),
            models.Index(fields=["contact", "sent_at"], name="csat_contact_sent"),
        ]

    def __str__(self) -> str:
        return f"survey of conversation {self.conversation_id}: {self.rating or 'unrated'}"


class SavedFilter(models.Model):
    """A person's named view of the conversation list (folder, inbox, label), one click away in the nav."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=60)
    query = models.JSONField(default=dict, help_text='{"folder": "mine", "inbox": 3, "label": 7}')
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user", "name"], name="saved_filter_name_unique")]

    def __str__(self) -> str:
        return self.name

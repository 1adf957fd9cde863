"""Channel endpoints (a Twilio number, a WhatsApp sender, an email address, a webchat widget) and the raw
inbound events providers post to them, stored before they are acknowledged."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.timezone import now

from accounts.models import Account
from inbox.models import Inbox


class EndpointKind(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    VOICE = "voice", "Voice"
    EMAIL = "email", "Email"
    WEBCHAT = "webchat", "Webchat"
    MESSENGER = "messenger", "Facebook Messenger"
    INSTAGRAM = "instagram", "Instagram"


class Provider(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    SENDGRID = "sendgrid", "SendGrid Inbound Parse"
    MAILGUN = "mailgun", "Mailgun"
    POSTMARK = "postmark", "Postmark"
    MIME = "mime", "Raw MIME (any mail server)"
    IMAP = "imap", "Your own mailbox (IMAP and SMTP)"
    META = "meta", "Meta (Messenger and Instagram)"
    WIDGET = "widget", "Continuum webchat widget"


class ChannelEndpoint(models.Model):
    """Where customers reach an inbox. Credentials are stored encrypted (accounts.crypto) and never shown."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="endpoints")
    kind = models.CharField(max_length=16, choices=EndpointKind.choices)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.TWILIO)
    address = models.CharField(max_length=320, help_text="E.164 number, whatsapp: sender, email or widget token")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    credentials_encrypted = models.TextField(blank=True)
    # Settings that are not secret: a widget's allowed origins and pre-chat form, a phone line's greeting.
    options = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["account", "inbox", "kind"], name="endpoint_inbox_kind")]
        # A number, WhatsApp sender or email address routes to one inbox of one account: a second claim on it
        # (another inbox, another account) is refused, so an arriving message is never ambiguous.
        constraints = [models.UniqueConstraint(fields=["kind", "address"], name="endpoint_address_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.address}"


class EventStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class InboundEvent(models.Model):
    """A provider's POST, as received (after its signature was checked). Unique per endpoint and idempotency
    key, so a provider's retry is a no-op; kept for replay when processing fails."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ChannelEndpoint, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16)  # messaging, status, voice, call, recording, transcription, email
    idempotency_key = models.CharField(max_length=200)
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=EventStatus.choices, default=EventStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "idempotency_key"], name="inbound_event_once"),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_event_pending")]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.status})"


class SandboxMessage(models.Model):
    """What passed through the channel sandbox's simulated carrier and mail server: the customer's side of an SMS,
    WhatsApp, call or email conversation, as the simulator page shows it. Never sent anywhere."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ChannelEndpoint, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=3)  # "in" (the customer to the business) or "out"
    channel = models.CharField(max_length=16)  # sms, whatsapp, voice, email
    customer = models.CharField(max_length=320)  # the customer's number or address, normalized
    body = models.TextField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)  # the simulated SM/CA sid or Message-ID
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["account", "customer", "created_at"], name="sandbox_customer")]

    def __str__(self) -> str:
        return f"{self.direction} {self.channel} {self.customer}"


class TemplateStatus(models.TextChoices):
    """WhatsApp's verdict on a template, as Twilio's Content API reports it."""

    APPROVED = "approved", "Approved"
    PENDING = "pending", "Pending review"
    RECEIVED = "received", "Received for review"
    REJECTED = "rejected", "Rejected"
    PAUSED = "paused", "Paused"
    DISABLED = "disabled", "Disabled"
    UNSUBMITTED = "unsubmitted", "Not submitted to WhatsApp"


class MessageTemplate(models.Model):
    """A WhatsApp message template of one sender, synced from Twilio's Content API (the only kind of message
    WhatsApp delivers outside its 24-hour window), with where each variable is filled from (`sources`)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(ChannelEndpoint, on_delete=models.CASCADE, related_name="templates")
    content_sid = models.CharField(max_length=64)  # HX...
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=16, blank=True)
    category = models.CharField(max_length=32, blank=True)  # UTILITY, MARKETING, AUTHENTICATION
    body = models.TextField()  # with {{1}} ... placeholders
    samples = models.JSONField(default=dict, blank=True)  # Twilio's sample value of each variable
    sources = models.JSONField(default=dict, blank=True)  # variable -> "contact.first_name", "fact:<key>", ...
    status = models.CharField(max_length=16, choices=TemplateStatus.choices, default=TemplateStatus.UNSUBMITTED)
    rejection_reason = models.CharField(max_length=500, blank=True)
    synced_at = models.DateTimeField(default=now)
    removed_at = models.DateTimeField(null=True, blank=True)  # no longer on Twilio: kept for the messages sent

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "content_sid"], name="template_once")]
        indexes = [models.Index(fields=["account", "endpoint", "status"], name="template_endpoint")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language}, {self.status})"


class MailboxCursor(models.Model):
    """How far an IMAP mailbox has been read: the folder's UIDVALIDITY and the last UID taken. A UID is never read
    twice while UIDVALIDITY holds; when the server renumbers (UIDVALIDITY changes) the recent mail is read again
    and the stored events' keys (Message-ID and content) keep each email once."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    endpoint = models.OneToOneField(ChannelEndpoint, on_delete=models.CASCADE, related_name="mailbox_cursor")
    folder = models.CharField(max_length=200, default="INBOX")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    polled_at = models.DateTimeField(null=True, blank=True)
    taken = models.PositiveIntegerField(default=0)  # emails taken since connected
    error = models.CharField(max_length=500, blank=True)  # the last poll's failure, in words ("" when it worked)
    sent_folder = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.endpoint} {self.folder} uid {self.last_uid}"

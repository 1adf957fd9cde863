"""Accounts (tenants), users (email login), memberships with a role, hashed API tokens, and the audit log."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now


class Account(models.Model):
    """A tenant: one business using Continuum. Every tenant-owned row points here."""

    name = models.CharField(max_length=200)
    # ISO 3166 region used to read phone numbers typed without a country code.
    default_region = models.CharField(max_length=2, default="US")
    timezone = models.CharField(max_length=64, default="UTC")
    # Conversations whose last activity is older than this many months are deleted by beat (empty: kept forever).
    retention_months = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)  # None gives an unusable password: the user sets one through the invite link
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Email login is case-insensitive: Dana@Example.com and dana@example.com are one person.
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address. Belongs to accounts through memberships."""

    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin site (operators only).")
    date_joined = models.DateTimeField(default=now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"


class Availability(models.TextChoices):
    ONLINE = "online", "Online"
    BUSY = "busy", "Busy"
    OFFLINE = "offline", "Offline"


class Membership(models.Model):
    """A user's place in an account. Admins configure the account; agents work the inboxes they are in."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    # Online while a console tab of this person is connected (its websocket's presence), busy when they say so,
    # offline otherwise. Auto-assignment hands new work to online members only.
    availability = models.CharField(max_length=8, choices=Availability.choices, default=Availability.OFFLINE)
    busy = models.BooleanField(default=False, help_text="The person set themselves busy: no new assignments.")
    # Which notifications reach this person (kinds switched off here are not created for them), whether the browser
    # shows them when the console's tab is hidden, and whether unread ones are mailed in a digest.
    notify_off = models.JSONField(default=list, blank=True, help_text="Notification kinds this person turned off.")
    notify_browser = models.BooleanField(default=True)
    notify_digest = models.BooleanField(
        default=True, help_text="Mail what stayed unread for 15 minutes (each notification once)."
    )
    time_zone = models.CharField(max_length=64, blank=True, help_text="Blank: the account's time zone.")
    email_signature = models.TextField(
        blank=True, max_length=2000, help_text="Your signature under the emails you send from this account."
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        # The unique constraint's index serves the per-request "is this user in this account" lookup.
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class ApiToken(models.Model):
    """A bearer token for scripts and integrations, acting as its user inside one account.

    Only a SHA-256 digest is stored: the token is 256 random bits, so a fast hash is enough and lookups stay a
    single indexed query. The plain token is shown once, when it is created.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to tell tokens apart.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "user"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditLog(models.Model):
    """Who did what to which object in an account. Written by services, never edited."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_logs")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["account", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id} at {self.created_at:%Y-%m-%d %H:%M}"

"""Reads of tenancy data. Everything tenant-owned is looked up through `account`."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from .models import Account, ApiToken, AuditLog, Membership, User


def membership_for_user(*, account_id: int, user: User) -> Membership | None:
    """The user's membership in the account, or None: callers answer 404 either way, so that an account the
    user is not in looks exactly like one that does not exist."""
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("account").filter(account_id=account_id, user=user).first()


def user_membership_list(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.select_related("account").filter(user=user).order_by("account__name", "account_id")


def membership_list(*, account: Account) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(account=account).order_by("created_at", "id")


def membership_admin_count(*, account: Account) -> int:
    return Membership.objects.filter(account=account, role="admin").count()


def api_token_list(*, account: Account, user: User | None = None) -> QuerySet[ApiToken]:
    """Tokens of the account; only `user`'s own when given."""
    tokens = ApiToken.objects.select_related("user").filter(account=account)
    if user is not None:
        tokens = tokens.filter(user=user)
    return tokens.order_by("-created_at", "-id")


def token_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_token_authenticate(*, plaintext: str) -> ApiToken | None:
    """The active token with this value, if any.

    Not account-scoped on purpose: this is how a request finds its account in the first place.
    """
    return (
        ApiToken.objects.select_related("user", "account")
        .filter(digest=token_digest(plaintext), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def audit_log_list(*, account: Account) -> QuerySet[AuditLog]:
    return AuditLog.objects.select_related("actor").filter(account=account).order_by("-created_at", "-id")

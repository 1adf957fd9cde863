"""Writes to tenancy data: each function takes `account` first, runs in one transaction and audits itself."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .errors import Conflict, ServiceError
from .models import Account, ApiToken, AuditLog, Membership, Role, User
from .realtime import access_changed
from .selectors import membership_admin_count, token_digest

TOKEN_PREFIX = "ctm_"  # noqa: S105 - a label, not a secret
# last_used_at is a hint for people reviewing their tokens; writing it on every request would cost a write each.
TOKEN_USE_WRITE_INTERVAL = timedelta(minutes=5)


def audit_log_record(
    *,
    account: Account,
    actor: User | None,
    action: str,
    target: Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        account=account,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )


@transaction.atomic
def account_create(*, name: str, owner: User, default_region: str = "US", timezone_name: str = "UTC") -> Account:
    """A new account with `owner` as its first admin."""
    account = Account.objects.create(name=name, default_region=default_region.upper(), timezone=timezone_name)
    Membership.objects.create(account=account, user=owner, role=Role.ADMIN)
    audit_log_record(account=account, actor=owner, action="account.created", target=account, data={"name": name})
    return account


def _invite_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def _send_invite(*, account: Account, user: User, inviter: User | None) -> None:
    who = inviter.display_name if inviter is not None else "An administrator"
    send_mail(
        subject=f"You have been invited to {account.name} on Continuum",
        message=(
            f"{who} added you to {account.name} on Continuum.\n\n"
            f"Choose your password here to sign in:\n{_invite_link(user)}\n\n"
            "The link works once and expires in a few days."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


@transaction.atomic
def member_add(
    *, account: Account, actor: User | None, email: str, role: str = Role.AGENT, name: str = ""
) -> tuple[Membership, bool]:
    """Add the person with `email` to the account. Someone new gets a user and an invitation email.

    Returns the membership and whether an invitation was sent.
    """
    if role not in Role.values:
        raise ServiceError(f"Role must be one of: {', '.join(Role.values)}.", field="role")
    email = User.objects.normalize_email(email.strip())
    user = User.objects.filter(email__iexact=email).first()
    invited = user is None or not user.has_usable_password()
    if user is None:
        user = User.objects.create_user(email=email, password=None, name=name)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(account=account, user=user, role=role)
    except IntegrityError:
        raise Conflict(f"{email} is already a member of this account.", field="email") from None
    audit_log_record(
        account=account,
        actor=actor,
        action="member.added",
        target=membership,
        data={"email": user.email, "role": role, "invited": invited},
    )
    if invited:
        transaction.on_commit(lambda: _send_invite(account=account, user=user, inviter=actor))
    return membership, invited


def _ensure_another_admin(*, account: Account, membership: Membership, doing: str) -> None:
    if membership.role == Role.ADMIN and membership_admin_count(account=account) <= 1:
        raise Conflict(
            f"Cannot {doing} the only admin of this account: make someone else an admin first.", field="role"
        )


@transaction.atomic
def member_change_role(*, account: Account, actor: User | None, membership: Membership, role: str) -> Membership:
    if membership.account_id != account.pk:
        raise ServiceError("That member is not in this account.")
    if role not in Role.values:
        raise ServiceError(f"Role must be one of: {', '.join(Role.values)}.", field="role")
    if role == membership.role:
        return membership
    # Lock the account's admin rows so that two admins demoting each other cannot leave none.
    list(Membership.objects.select_for_update().filter(account=account, role=Role.ADMIN))
    if role != Role.ADMIN:
        _ensure_another_admin(account=account, membership=membership, doing="demote")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_log_record(
        account=account,
        actor=actor,
        action="member.role_changed",
        target=membership,
        data={"email": membership.user.email, "from": old, "to": role},
    )
    access_changed([membership.user_id])
    return membership


@transaction.atomic
def member_remove(*, account: Account, actor: User | None, membership: Membership) -> None:
    """Remove a member; their API tokens for this account stop working at once."""
    if membership.account_id != account.pk:
        raise ServiceError("That member is not in this account.")
    list(Membership.objects.select_for_update().filter(account=account, role=Role.ADMIN))
    _ensure_another_admin(account=account, membership=membership, doing="remove")
    ApiToken.objects.filter(account=account, user_id=membership.user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit_log_record(
        account=account,
        actor=actor,
        action="member.removed",
        target=membership,
        data={"email": membership.user.email, "role": membership.role},
    )
    access_changed([membership.user_id])
    membership.delete()


@transaction.atomic
def api_token_create(*, account: Account, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user` in `account`. Returns the row and the plain token, which is never stored."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the token a name, so you can tell it apart later.", field="name")
    if not Membership.objects.filter(account=account, user=user).exists():
        raise ServiceError(f"{user.email} is not a member of this account.", field="user")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        account=account,
        user=user,
        name=name,
        prefix=plaintext[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(plaintext),
    )
    audit_log_record(account=account, actor=user, action="api_token.created", target=token, data={"name": name})
    return token, plaintext


@transaction.atomic
def api_token_revoke(*, account: Account, actor: User | None, token: ApiToken) -> ApiToken:
    if token.account_id != account.pk:
        raise ServiceError("That token does not belong to this account.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_log_record(
            account=account, actor=actor, action="api_token.revoked", target=token, data={"name": token.name}
        )
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Note that the token was used, at most once per interval."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_WRITE_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now

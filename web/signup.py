"""Self-serve sign-up: a visitor gives their name, work email, a password and the business's name; a link mailed
to that address proves it is theirs; following it creates the account with them as its admin, a first inbox
(Support) with a webchat widget, signs them in and opens the setup checklist.

Nothing is created before the address is proven except an inactive user (so the password is hashed once and
never carried in the link). Asking again for an address that already has an active user mails that person a
note instead, and the page answers the same either way: sign-up cannot be used to find out who has an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from accounts.errors import ServiceError
from accounts.models import Account, Membership, User
from accounts.services import account_create, audit_log_record
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint, EndpointKind, Provider
from channels_app.webchat import new_identity_secret, new_widget_token
from contacts.addresses import normalize_email
from inbox.services import inbox_create, inbox_member_add

SALT = "continuum.signup"
LINK_VALID_SECONDS = 2 * 24 * 3600


@dataclass(frozen=True)
class SignupRequest:
    name: str
    email: str
    password: str
    business: str


def _clean(request: SignupRequest) -> SignupRequest:
    errors: dict[str, str] = {}
    name, business = request.name.strip()[:150], request.business.strip()[:200]
    if not name:
        errors["name"] = "Write your name."
    if not business:
        errors["business"] = "Write your business's name; you can change it later."
    try:
        email = normalize_email(request.email)
    except ServiceError:
        errors["email"] = f"{request.email.strip() or 'That'} is not an email address we can write to."
        email = ""
    try:
        validate_password(request.password, User(email=email, name=name))
    except ValidationError as exc:
        errors["password"] = " ".join(exc.messages)
    if errors:
        field, message = next(iter(errors.items()))
        raise ServiceError(message, field=field)
    return SignupRequest(name=name, email=email, password=request.password, business=business)


def _link(user: User, business: str) -> str:
    token = signing.dumps({"u": user.pk, "b": business, "p": user.password[-12:]}, salt=SALT, compress=True)
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{reverse('signup-verify', kwargs={'token': token})}"


@transaction.atomic
def signup_start(request: SignupRequest) -> None:
    """Validate, keep an inactive user, and mail the link that proves the address. Raises ServiceError naming
    the field at fault."""
    clean = _clean(request)
    user = User.objects.filter(email__iexact=clean.email).first()
    if user is not None and user.is_active:
        transaction.on_commit(lambda: send_mail(
            "Your Continuum sign-in",
            f"Someone (maybe you) asked to sign up with {clean.email}, which already has an account.\n\n"
            f"Sign in here: {settings.PUBLIC_BASE_URL.rstrip('/')}{reverse('login')}\n"
            f"Forgot the password? {settings.PUBLIC_BASE_URL.rstrip('/')}{reverse('password_reset')}\n",
            settings.DEFAULT_FROM_EMAIL, [clean.email], fail_silently=True,
        ))  # fmt: skip
        return
    if user is None:
        user = User.objects.create_user(email=clean.email, password=clean.password, name=clean.name, is_active=False)
    else:  # asked again before verifying: the latest password and name count
        user.name = clean.name
        user.set_password(clean.password)
        user.save(update_fields=["name", "password"])
    link = _link(user, clean.business)
    transaction.on_commit(lambda: send_mail(
        "Confirm your email to start with Continuum",
        f"Hi {clean.name},\n\nConfirm your email to create {clean.business} on Continuum:\n{link}\n\n"
        "The link works for two days. If you did not ask for this, ignore this email.\n",
        settings.DEFAULT_FROM_EMAIL, [clean.email], fail_silently=False,
    ))  # fmt: skip


@transaction.atomic
def signup_verify(token: str) -> tuple[User, Account]:
    """The account behind a valid link: created on the first visit (the same one on later visits)."""
    try:
        data: dict[str, Any] = signing.loads(token, salt=SALT, max_age=LINK_VALID_SECONDS)
    except signing.SignatureExpired:
        raise ServiceError("This link has expired: sign up again to get a new one.", field="token") from None
    except signing.BadSignature:
        raise ServiceError("This link is not valid.", field="token") from None
    user = User.objects.select_for_update().filter(pk=int(data.get("u") or 0)).first()
    if user is None or user.password[-12:] != data.get("p"):  # a newer link (new password) replaced this one
        raise ServiceError("This link was replaced by a newer one: use the latest email.", field="token")
    existing = Membership.objects.filter(user=user).select_related("account").order_by("id").first()
    if user.is_active and existing is not None:
        return user, existing.account
    user.is_active = True
    user.save(update_fields=["is_active"])
    account = account_create(name=str(data.get("b") or "My business"), owner=user)
    inbox = inbox_create(account=account, actor=user, name="Support", purpose="Questions from customers")
    inbox_member_add(account=account, actor=user, inbox=inbox, user=user)
    ChannelEndpoint.objects.create(
        account=account,
        inbox=inbox,
        kind=EndpointKind.WEBCHAT,
        provider=Provider.WIDGET,
        address=new_widget_token(),
        credentials_encrypted=credentials_encrypt({"identity_secret": new_identity_secret()}),
        options={"title": account.name, "prechat_fields": ["name"]},
    )
    audit_log_record(account=account, actor=user, action="account.signed_up", target=account,
                     data={"email": user.email})  # fmt: skip
    return user, account

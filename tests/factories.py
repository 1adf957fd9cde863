"""Factories for test data, always inside one account."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import factory

from accounts.models import Account, Membership, Role, User
from accounts.services import api_token_create

if TYPE_CHECKING:
    from inbox.models import Inbox

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    password = factory.django.Password(TEST_PASSWORD)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Business {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.AGENT


def api_token_for(membership: Membership, name: str = "test") -> str:
    """A fresh plain-text API token for the member, through the real service."""
    _token, plaintext = api_token_create(account=membership.account, user=membership.user, name=name)
    return plaintext


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "inbox.Inbox"

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Inbox {n}")


def inbound(
    account: Account,
    inbox,
    address: str = "+15551234567",
    body: str = "Hello",
    *,
    kind: str = "phone",  # type: ignore[no-untyped-def]
    channel: str = "sms",
    name: str | None = None,
    **kwargs,
):
    """A customer's message through the real path: resolve the contact, then receive the message."""
    from contacts.services import contact_resolve
    from inbox.services import receive_message

    contact = contact_resolve(account=account, kind=kind, raw_address=address, name=name)
    return receive_message(account=account, inbox=inbox, contact=contact, channel=channel, body=body, **kwargs)


def define_policy_number(account: Account, actor, inbox, *, required: bool = True):  # type: ignore[no-untyped-def]
    """The inbox remembers a policy number (PN-1234...), required before a handoff: the AI asks for it."""
    from memory.services import fact_definition_create

    return fact_definition_create(
        account=account,
        actor=actor,
        inbox=inbox,
        key="policy_number",
        label="Policy number",
        pattern=r"PN-\d{4,8}",
        required_before_handoff=required,
    )


def ai_on(account: Account, inbox: Inbox, **settings: Any) -> Any:
    """The inbox's AI agent answers (always, unless told otherwise): its conversations are the AI's."""
    from ai_agent.models import AgentSettings

    values = {"enabled": True, "answer_mode": "always", **settings}
    agent, _ = AgentSettings.objects.update_or_create(account=account, inbox=inbox, defaults=values)
    return agent


def online(account: Account, *users: User) -> None:
    """These people have a console open (their sockets' presence): routing hands them work."""
    Membership.objects.filter(account=account, user__in=users).update(availability="online")

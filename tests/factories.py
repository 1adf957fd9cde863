"""Factories for test data, always inside one account."""

from __future__ import annotations

import factory

from accounts.models import Account, Membership, Role, User
from accounts.services import api_token_create

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

"""Self-serve sign-up: validation names the field, the emailed link proves the address (a GET creates nothing),
the account comes with an admin, a Support inbox and a webchat widget, an existing address learns nothing new,
and the form is throttled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Account, Membership, User
from channels_app.models import ChannelEndpoint
from inbox.models import Inbox
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles() -> None:
    from django.core.cache import cache

    cache.clear()  # the sign-up throttle counts per client address: each test starts at zero


FORM = {
    "name": "Rosa Diaz",
    "email": "rosa@diazplumbing.com",
    "password": "correct-horse-battery",
    "business": "Diaz Plumbing",
}


def _link() -> str:
    match = re.search(r"https?://\S+/auth/signup/confirm/\S+/", mail.outbox[-1].body)
    assert match is not None, mail.outbox[-1].body
    return "/" + match.group(0).split("/", 3)[3]


def test_sign_up_confirm_and_land_on_the_checklist(django_capture_on_commit_callbacks: Any) -> None:
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/auth/signup/", FORM)
    assert sent.status_code == 200 and b"Check your email" in sent.content
    assert not Account.objects.exists() and not User.objects.get(email="rosa@diazplumbing.com").is_active
    link = _link()
    assert client.get(link).status_code == 200 and not Account.objects.exists()  # a scanner's GET creates nothing
    done = client.post(link)
    account = Account.objects.get(name="Diaz Plumbing")
    assert done.status_code == 302 and done["Location"] == f"/a/{account.pk}/welcome/"
    user = User.objects.get(email="rosa@diazplumbing.com")
    assert user.is_active and Membership.objects.get(account=account, user=user).role == "admin"
    support = Inbox.objects.get(account=account, name="Support")
    widget = ChannelEndpoint.objects.get(account=account, inbox=support, kind="webchat")
    page = client.get(f"/a/{account.pk}/welcome/").content.decode()
    assert f"data-widget=&quot;{widget.address}&quot;" in page and "0 of 5" in page
    assert client.post(link).status_code == 302 and Account.objects.count() == 1  # the link again: same account


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"email": "not-an-address"}, "email", "not an email address"),
        ({"password": "123"}, "password", "too short"),
        ({"business": " "}, "business", "Write your business"),
        ({"name": ""}, "name", "Write your name"),
    ],
)
def test_a_bad_field_is_named(change: dict[str, str], field: str, words: str) -> None:
    response = Client().post("/auth/signup/", {**FORM, **change})
    assert response.status_code == 400
    page = response.content.decode()
    assert words in page and f'id="signup-{field}"' in page and 'aria-invalid="true"' in page
    assert not User.objects.exists()


def test_an_existing_address_gets_a_sign_in_note_and_the_page_says_the_same(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/auth/signup/", {**FORM, "email": tenant.admin.email})
    assert b"Check your email" in response.content  # the same answer as for a new address
    assert "already has an account" in mail.outbox[-1].body and "/auth/signup/confirm/" not in mail.outbox[-1].body
    assert Account.objects.count() == 1


def test_a_forged_or_replaced_link_is_refused(django_capture_on_commit_callbacks: Any) -> None:
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/auth/signup/", FORM)
    first = _link()
    assert b"not valid" in client.post(first[:-6] + "xxxxx/").content
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/auth/signup/", {**FORM, "password": "another-long-password"})
    assert b"replaced by a newer one" in client.post(first).content
    assert client.post(_link()).status_code == 302


def test_sign_up_is_throttled(settings: Any) -> None:
    settings.SIGNUP_RATE_PER_ADDRESS = "2/h"
    client = Client()
    for n in range(2):
        client.post("/auth/signup/", {**FORM, "email": f"x{n}@example.com"})
    assert client.post("/auth/signup/", {**FORM, "email": "x9@example.com"}).status_code == 429


def test_sign_up_can_be_closed(settings: Any) -> None:
    settings.SIGNUP_ENABLED = False
    assert Client().post("/auth/signup/", FORM).status_code == 404
    assert not User.objects.exists()

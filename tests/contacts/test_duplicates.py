"""Duplicate suggestions: the same full name with a close phone (another way of writing it, or one digit apart)
or a close email (the same mailbox at another domain, a near-identical one at the same domain), offered on the
contact page and the memory panel, one click from the merge preview; never for a first name alone."""

from __future__ import annotations

from typing import Any

import pytest

from contacts.selectors import likely_duplicates
from contacts.services import contact_resolve
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from tests.web.test_pages import signed_in

pytestmark = pytest.mark.django_db


def _contact(tenant: Tenant, kind: str, address: str, name: str) -> Any:
    return contact_resolve(account=tenant.account, kind=kind, raw_address=address, name=name)


@pytest.mark.parametrize(
    ("kind", "first", "second", "name_a", "name_b", "found"),
    [
        ("phone", "+13125550101", "+13125550110", "Rosa Diaz", "Rosa Diaz", False),  # two digits apart
        ("phone", "+13125550101", "+13125550102", "Rosa Diaz", "rosa  diaz", True),  # one digit: a typo
        ("email", "rosa.diaz@gmail.com", "rosa.diaz@googlemail.com", "Rosa Diaz", "Rosa Diaz", True),
        ("email", "rosa.diaz@example.com", "rosa.dias@example.com", "Rosa Diaz", "Rosa Diaz", True),
        ("email", "rosa@example.com", "tom@example.com", "Rosa Diaz", "Rosa Diaz", False),
        ("phone", "+13125550101", "+13125550102", "Rosa Diaz", "Tom Becker", False),  # another name
        ("phone", "+13125550101", "+13125550102", "Rosa", "Rosa", False),  # a first name alone
    ],
)
def test_likely_duplicates(
    tenant: Tenant, kind: str, first: str, second: str, name_a: str, name_b: str, found: bool
) -> None:
    a = _contact(tenant, kind, first, name_a)
    b = _contact(tenant, kind, second, name_b)
    got = likely_duplicates(account=tenant.account, contact=a)
    assert ([d.contact.pk for d in got] == [b.pk]) is found
    if found:
        assert got[0].reason.startswith("same name;")


def test_the_contact_page_and_the_memory_panel_offer_the_merge_preview(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account, name="Support")
    first = inbound(tenant.account, inbox, "+13125550101", "hi", name="Rosa Diaz")
    second = inbound(tenant.account, inbox, "+13125550102", "hello again", name="Rosa Diaz")
    admin = signed_in(tenant.admin)
    contact_page = admin.get(f"/a/{tenant.account.pk}/contacts/{first.contact_id}/").content.decode()
    assert "Same person?" in contact_page
    assert f"/contacts/{second.contact_id}/merge/{first.contact_id}/" in contact_page
    panel = admin.get(f"/a/{tenant.account.pk}/conversations/{first.conversation_id}/memory").content.decode()
    assert "same name; phone +13125550101 and +13125550102 are close" in panel

"""Message search: the newest matches are found by a bounded step whatever the word's frequency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.selectors import membership_for_user
from inbox import selectors
from inbox.models import Message
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", 3)
    monkeypatch.setattr(selectors, "SEARCH_RECENT_WINDOW", 6)
    monkeypatch.setattr(selectors, "SEARCH_SORT_LIMIT", 5)


def conversation_of(tenant: Tenant, bodies: list[str]) -> list[int]:
    """Messages written an hour apart in order (the last is the newest); their ids, newest first."""
    inbox = InboxFactory(account=tenant.account)
    first = inbound(tenant.account, inbox, "+15550101010", bodies[0])
    ids = [first.pk]
    for body in bodies[1:]:
        ids.append(Message.objects.create(**_like(first), body=body).pk)
    start = timezone.now() - timedelta(hours=len(ids))
    for n, pk in enumerate(ids):
        Message.objects.filter(pk=pk).update(created_at=start + timedelta(hours=n))
    return ids[::-1]


def _like(message: Message) -> dict[str, object]:
    fields = ["account_id", "conversation_id", "contact_id", "inbox_id", "direction", "kind", "channel"]
    return {name: getattr(message, name) for name in fields} | {"sender_type": message.sender_type}


def search(tenant: Tenant, query: str) -> tuple[list[int], int]:
    member = membership_for_user(account_id=tenant.account.pk, user=tenant.admin)
    assert member is not None
    with CaptureQueriesContext(connection) as queries:
        found = list(selectors.message_search(account=tenant.account, membership=member, query=query))
    return sorted(m.pk for m in found), len(queries)


@pytest.mark.usefixtures("small_limits")
def test_a_common_word_is_found_among_the_newest_messages(tenant: Tenant) -> None:
    newest_first = conversation_of(tenant, ["refund"] * 8)
    found, queries = search(tenant, "refunds")
    assert found == sorted(newest_first[:3])
    # the text index's probe (too many), the walk (in a savepoint with its planner setting: 4 more), the rows, the
    # attachments
    assert queries == 8


@pytest.mark.usefixtures("small_limits")
def test_a_rare_word_is_sorted_from_the_text_index(tenant: Tenant) -> None:
    newest_first = conversation_of(tenant, ["refund", "refund", "refund", "hello", "hi", "refund", "ok", "ok", "ok"])
    found, queries = search(tenant, "refund")
    assert found == sorted([newest_first[3], newest_first[6], newest_first[7]])
    assert queries == 3  # the probe (all of them), the rows, the attachments


@pytest.mark.usefixtures("small_limits")
def test_a_word_frequent_long_ago_is_searched_by_date(tenant: Tenant) -> None:
    newest_first = conversation_of(tenant, ["refund"] * 7 + ["ok"] * 6)
    found, queries = search(tenant, "refund")
    assert found == sorted(newest_first[6:9])
    assert queries == 9  # the probe, the walk (none in the six newest), the date-ordered search, rows, attachments


def test_the_search_sees_body_changes_and_never_another_account(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550202020", "hello")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550303030", "refund")
    assert search(tenant, "refund")[0] == []
    Message.objects.filter(pk=mine.pk).update(body="a refund please")  # the stored words follow the body
    assert search(tenant, "refund")[0] == [mine.pk]

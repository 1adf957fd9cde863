"""The second wall: under the role an API request runs as, PostgreSQL itself returns and accepts only the
request's account's rows — a query that forgets its account filter sees nothing of other tenants — and every
tenant table carries the policy (a new table without one fails here)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.tenant_db import tenant_enter, tenant_leave
from contacts.models import Contact
from inbox.models import Conversation, Message
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def test_a_query_that_forgets_its_account_filter_sees_only_its_own_account(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550001111", "mine")
    theirs = inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550002222", "theirs")
    assert Message.objects.count() == 2  # the owner role (tasks, migrations) sees everything
    tenant_enter(tenant.account.pk)
    try:
        assert list(Message.objects.values_list("body", flat=True)) == ["mine"]  # no account filter written
        assert not Conversation.objects.filter(pk=theirs.conversation_id).exists()
        assert not Contact.objects.filter(account=other_tenant.account).exists()
        assert Contact.objects.filter(pk=mine.contact_id).exists()
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Contact.objects.create(account=other_tenant.account, name="planted")
        with pytest.raises(DatabaseError), transaction.atomic():  # no moving a row into another account
            Contact.objects.filter(pk=mine.contact_id).update(account=other_tenant.account)
    finally:
        tenant_leave()
    assert Message.objects.count() == 2


def test_the_role_with_no_account_sees_nothing(tenant: Tenant) -> None:
    inbound(tenant.account, InboxFactory(account=tenant.account), "+15550003333", "hello")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('role', 'continuum_app', false)")
        try:
            cursor.execute("SELECT count(*) FROM inbox_message")
            assert cursor.fetchone()[0] == 0
        finally:
            cursor.execute("SELECT set_config('role', 'none', false)")


def test_every_tenant_table_has_the_policy() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, t.relrowsecurity, "
            "EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.table_name AND p.policyname = 'tenant_wall') "
            "FROM information_schema.columns c JOIN pg_class t ON t.relname = c.table_name "
            "WHERE c.table_schema = current_schema() AND c.column_name = 'account_id'"
        )
        rows = cursor.fetchall()
    ours = [
        r for r in rows if r[0].split("_")[0] in {"accounts", "contacts", "inbox", "memory", "channels", "ai", "web"}
    ]
    assert len(ours) >= 25
    assert [name for name, secured, policy in ours if not (secured and policy)] == []

"""The second wall: under the role an API request runs as, PostgreSQL itself returns and accepts only the
request's account's rows — a query that forgets its account filter sees nothing of other tenants — and every
tenant table carries the policy (a new table without one fails here)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.tenant_db import tenant_enter, tenant_leave
from contacts.models import Contact
from inbox.models import Conversation, Message
from tests.conftest import Tenant
from tests.factories import InboxFactory, MembershipFactory, inbound

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
        r
        for r in rows
        if r[0].split("_")[0] in {"accounts", "contacts", "inbox", "memory", "channels", "ai", "reports", "web"}
    ]
    assert len(ours) >= 25
    assert [name for name, secured, policy in ours if not (secured and policy)] == []


def _probe(seen: list[tuple[int, list[int]]]) -> None:
    """What a query with no account filter sees from where it runs: messages, and the accounts of contacts."""
    seen.append((Message.objects.count(), sorted(set(Contact.objects.values_list("account_id", flat=True)))))


def test_a_console_page_runs_behind_the_wall_and_still_lists_the_persons_other_accounts(
    tenant: Tenant, other_tenant: Tenant, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.context

    inbound(tenant.account, InboxFactory(account=tenant.account), "+15550001111", "mine")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550002222", "theirs")
    MembershipFactory(account=other_tenant.account, user=tenant.admin)  # the admin works in both accounts
    seen: list[tuple[int, list[int]]] = []
    real = web.context.visible_inboxes

    def visible_inboxes(**kwargs: Any) -> Any:
        _probe(seen)
        return real(**kwargs)

    monkeypatch.setattr(web.context, "visible_inboxes", visible_inboxes)
    client.force_login(tenant.admin)
    page = client.get(reverse("web:inbox", kwargs={"account_id": tenant.account.pk}))
    assert page.status_code == 200
    assert seen == [(1, [tenant.account.pk])]
    # the account switcher still names both of the person's accounts (their own memberships stay readable)
    html = page.content.decode()
    assert tenant.account.name in html and other_tenant.account.name in html
    assert Message.objects.count() == 2  # and the connection is back to the owner role after the response


def test_a_task_of_one_account_runs_behind_the_wall(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ai_agent.tasks

    mine = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550001111", "mine")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550002222", "theirs")
    seen: list[tuple[int, list[int]]] = []
    real = ai_agent.tasks.read_message

    def read_message(message: Message) -> Any:
        _probe(seen)
        return real(message)

    monkeypatch.setattr(ai_agent.tasks, "read_message", read_message)
    assert ai_agent.tasks.analyze_message(tenant.account.pk, mine.pk) == "analyzed"
    assert seen == [(1, [tenant.account.pk])]
    assert Message.objects.count() == 2


def test_a_sockets_reads_run_behind_the_wall(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.consumers

    inbound(tenant.account, InboxFactory(account=tenant.account), "+15550001111", "mine")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550002222", "theirs")
    seen: list[tuple[int, list[int]]] = []
    real = web.consumers.visible_inboxes

    def visible_inboxes(**kwargs: Any) -> Any:
        _probe(seen)
        return real(**kwargs)

    monkeypatch.setattr(web.consumers, "visible_inboxes", visible_inboxes)
    assert len(web.consumers._visible_inbox_ids(tenant.admin_membership)) == 1
    assert seen == [(1, [tenant.account.pk])]
    assert Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_application_login_role_is_no_superuser_and_narrows_to_one_account(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import psycopg
    from django.core.management import call_command

    inbound(tenant.account, InboxFactory(account=tenant.account), "+15550001111", "mine")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550002222", "theirs")
    role = f"continuum_web_test_{os.getpid()}"
    monkeypatch.setenv("APP_DB_PASSWORD", "a long enough test password")
    call_command("db_app_role", "--role", role)
    params = {**connection.get_connection_params(), "user": role, "password": "a long enough test password"}
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as app:
        assert app.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone() == (
            False,
            False,
        )
        assert app.execute("SELECT count(*) FROM inbox_message").fetchone() == (2,)  # system work: every tenant
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE planted (id int)")  # the schema belongs to the owner (migrations)
        app.execute(
            "SELECT set_config('role', 'continuum_app', false), set_config('continuum.account_id', %s, false)",
            [str(tenant.account.pk)],
        )
        assert app.execute("SELECT body FROM inbox_message").fetchall() == [("mine",)]


def test_the_webchat_widget_runs_behind_the_wall(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import channels_app.webchat
    from tests.channels_app.test_webchat import call, make_widget

    endpoint = make_widget(tenant)
    inbound(tenant.account, InboxFactory(account=tenant.account), "+15550001111", "mine")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550002222", "theirs")
    seen: list[tuple[int, list[int]]] = []
    real = channels_app.webchat.widget_config

    def widget_config(endpoint: Any) -> Any:
        _probe(seen)
        return real(endpoint)

    monkeypatch.setattr(channels_app.webchat, "widget_config", widget_config)
    assert call(endpoint, "session", {}).status_code == 200
    assert seen == [(1, [tenant.account.pk])]
    assert Message.objects.count() == 2


def test_a_message_search_uses_the_text_index_and_still_returns_only_its_account(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """The search's id lookup runs outside the policy (which keeps the text index out of the plan); it names its
    account and inboxes itself, the rows are read under the policy, and the connection is back behind the wall."""
    from accounts.selectors import membership_for_user
    from inbox.selectors import message_search

    inbound(tenant.account, InboxFactory(account=tenant.account), "+15550004444", "my refund please")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550005555", "their refund too")
    agent_inbox = InboxFactory(account=tenant.account, name="Not the agent's")
    inbound(tenant.account, agent_inbox, "+15550006666", "a refund the agent may not see")
    member = membership_for_user(account_id=tenant.account.pk, user=tenant.agent)
    admin = membership_for_user(account_id=tenant.account.pk, user=tenant.admin)
    assert member is not None and admin is not None
    from inbox.models import InboxMember

    first_inbox = Message.objects.get(body="my refund please").inbox
    InboxMember.objects.create(account=tenant.account, inbox=first_inbox, user=tenant.agent)
    tenant_enter(tenant.account.pk, tenant.agent.pk)
    try:
        found = [m.body for m in message_search(account=tenant.account, membership=member, query="refunds")]
        assert found == ["my refund please"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, count(*) FROM inbox_message")
            assert cursor.fetchone() == ("continuum_app", 2)  # behind the wall again: this account's two
        everything = {m.body for m in message_search(account=tenant.account, membership=admin, query="refund")}
        assert everything == {"my refund please", "a refund the agent may not see"}
    finally:
        tenant_leave()


def test_a_contact_search_uses_its_indexes_and_still_returns_only_its_account(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    from contacts.selectors import contact_search

    mine = inbound(tenant.account, InboxFactory(account=tenant.account), "+15550007777", "hi", name="Dana Smith")
    inbound(other_tenant.account, InboxFactory(account=other_tenant.account), "+15550007777", "hi", name="Dana Smith")
    tenant_enter(tenant.account.pk)
    try:
        by_name = [c.pk for c in contact_search(account=tenant.account, query="dan sm")]
        by_phone = [c.pk for c in contact_search(account=tenant.account, query="(555) 000-7777")]
        assert by_name == by_phone == [mine.contact_id]  # the other account's Dana, same name and number: not here
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == ("continuum_app",)
    finally:
        tenant_leave()

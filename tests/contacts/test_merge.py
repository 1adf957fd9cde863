"""Merging folds the relationship and can be undone; merging and removing addresses are for admins and for agents
who see every conversation of the contacts involved (404 otherwise); a webchat visitor's typed email or phone
is a claim that joins them to nobody and shows their browser nothing of anyone else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditLog
from channels_app import webchat
from contacts.models import Contact, ContactIdentity
from contacts.services import contact_merge
from inbox.models import Conversation, Message
from inbox.services import conversation_assign, conversation_take_over, inbox_member_add, send_message
from memory.models import Fact
from memory.services import fact_record_ai, fact_set
from tests.channels_app.test_webchat import SITE, make_widget
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def api(tenant: Tenant, path: str) -> str:
    return f"/api/v1/accounts/{tenant.account.pk}{path}"


@pytest.fixture
def two_teams(tenant: Tenant) -> dict[str, Any]:
    support = InboxFactory(account=tenant.account, name="Support")
    sales = InboxFactory(account=tenant.account, name="Sales")
    inbox_member_add(account=tenant.account, actor=None, inbox=sales, user=tenant.agent)
    return {"support": support, "sales": sales}


def test_an_agent_may_not_merge_or_remove_addresses_of_customers_of_another_team(
    tenant: Tenant, two_teams: dict[str, Any]
) -> None:
    in_sales = inbound(tenant.account, two_teams["sales"], "+15550001111", "price?")
    in_support = inbound(tenant.account, two_teams["support"], "+15550002222", "broken")
    agent = tenant.client("agent")
    refused = agent.post(
        api(tenant, f"/contacts/{in_sales.contact_id}/merge"), {"drop": in_support.contact_id}, format="json"
    )
    assert refused.status_code == 404
    identity = ContactIdentity.objects.get(contact=in_support.contact)
    gone = agent.delete(api(tenant, f"/contacts/{in_support.contact_id}/identities/{identity.pk}"))
    assert gone.status_code == 404 and ContactIdentity.objects.filter(pk=identity.pk).exists()
    # the console's merge preview says the same
    browser = Client()
    browser.force_login(tenant.agent)
    preview = f"/a/{tenant.account.pk}/contacts/{in_sales.contact_id}/merge/{in_support.contact_id}/"
    assert browser.get(preview).status_code == 404
    assert Contact.objects.get(pk=in_support.contact_id).merged_into_id is None
    # an admin may; so may an agent who sees every conversation of both
    inbox_member_add(account=tenant.account, actor=None, inbox=two_teams["support"], user=tenant.agent)
    ok = agent.post(api(tenant, f"/contacts/{in_sales.contact_id}/merge"), {"drop": in_support.contact_id}, "json")
    assert ok.status_code == 200, ok.json()


def test_merge_folds_open_conversations_keeps_the_owner_and_collapses_facts(
    tenant: Tenant, two_teams: dict[str, Any]
) -> None:
    support = two_teams["support"]
    chat = inbound(tenant.account, support, "visitor-7", "my boiler is off", kind="webchat", channel="webchat")
    text = inbound(tenant.account, support, "+15550003333", "any news on the boiler?")
    conversation_take_over(account=tenant.account, actor=tenant.admin, conversation=text.conversation)
    conversation_assign(
        account=tenant.account, actor=tenant.admin, conversation=text.conversation, assignee=tenant.admin
    )
    common = {"account": tenant.account, "inbox": support, "engine": "local/1", "confidence": 0.9}
    fact_record_ai(contact=chat.contact, key="name", value="Ana Ruiz", **common)
    fact_set(
        account=tenant.account,
        actor=tenant.admin,
        contact=text.contact,
        inbox=support,
        key="name",
        value="Ana Ruiz-Soto",
    )
    fact_record_ai(contact=text.contact, key="email", value="ana@example.org", **common)

    contact_merge(account=tenant.account, actor=tenant.admin, keep=chat.contact, drop=text.contact)

    older = Conversation.objects.get(pk=chat.conversation_id)
    assert Conversation.objects.get(pk=text.conversation_id).merged_into_id == older.pk
    assert set(Message.objects.filter(kind="message").values_list("conversation_id", flat=True)) == {older.pk}
    assert (older.handled_by, older.assignee_id) == ("human", tenant.admin.pk)  # ownership and assignee kept
    names = Fact.objects.filter(contact=chat.contact, key="name", status="active")
    assert [f.value for f in names] == ["Ana Ruiz-Soto"]  # a person's word beats the AI's
    # the next message goes to the continuing conversation
    later = inbound(tenant.account, support, "+15550003333", "hello again")
    assert later.conversation_id == older.pk
    # the folded conversation's old link leads there
    browser = Client()
    browser.force_login(tenant.admin)
    moved = browser.get(f"/a/{tenant.account.pk}/conversations/{text.conversation_id}/")
    assert moved.status_code == 302 and moved["Location"].endswith(f"/conversations/{older.pk}/")


def test_an_admin_undoes_a_merge_within_30_days(tenant: Tenant, two_teams: dict[str, Any]) -> None:
    support = two_teams["support"]
    chat = inbound(tenant.account, support, "visitor-8", "is it in stock?", kind="webchat", channel="webchat")
    text = inbound(tenant.account, support, "+15550004444", "the blue one")
    fact_record_ai(
        account=tenant.account, contact=chat.contact, inbox=support, key="name", value="Lee Ho", confidence=0.9,
        engine="local/1",
    )  # fmt: skip
    fact_record_ai(
        account=tenant.account, contact=text.contact, inbox=support, key="name", value="Lee Park", confidence=0.9,
        engine="local/1",
    )  # fmt: skip
    contact_merge(account=tenant.account, actor=tenant.admin, keep=chat.contact, drop=text.contact)
    after_merge = inbound(tenant.account, support, "+15550004444", "written after the merge")
    merge = AuditLog.objects.get(action="contact.merged")

    assert tenant.client("agent").post(api(tenant, f"/contact-merges/{merge.pk}/undo")).status_code == 403
    listed = tenant.client("admin").get(api(tenant, "/contact-merges")).json()["results"]
    assert listed[0]["id"] == merge.pk and listed[0]["dropped"] == text.contact_id
    undone = tenant.client("admin").post(api(tenant, f"/contact-merges/{merge.pk}/undo"))
    assert undone.status_code == 200, undone.json()
    assert undone.json()["id"] == text.contact_id and undone.json()["merged_into"] is None
    text.refresh_from_db()
    assert text.contact_id == text.contact.pk and text.conversation_id != chat.conversation_id
    assert Conversation.objects.get(pk=text.conversation_id).merged_into_id is None
    assert ContactIdentity.objects.get(value="+15550004444").contact_id == text.contact_id
    assert set(Fact.objects.filter(key="name", status="active").values_list("value", flat=True)) == {
        "Lee Ho",
        "Lee Park",
    }
    assert not Message.objects.filter(body__startswith="Contacts merged").exists()
    # what was written since stays with the kept contact
    assert Message.objects.get(pk=after_merge.pk).contact_id == chat.contact_id
    again = tenant.client("admin").post(api(tenant, f"/contact-merges/{merge.pk}/undo"))
    assert again.status_code == 409 and "already undone" in again.json()["error"]["message"]


def test_a_merge_older_than_30_days_stays(tenant: Tenant, two_teams: dict[str, Any]) -> None:
    a = inbound(tenant.account, two_teams["support"], "+15550005555", "a")
    b = inbound(tenant.account, two_teams["support"], "+15550006666", "b")
    contact_merge(account=tenant.account, actor=tenant.admin, keep=a.contact, drop=b.contact)
    merge = AuditLog.objects.get(action="contact.merged")
    AuditLog.objects.filter(pk=merge.pk).update(created_at=timezone.now() - timedelta(days=31))
    late = tenant.client("admin").post(api(tenant, f"/contact-merges/{merge.pk}/undo"))
    assert late.status_code == 409 and "30 days" in late.json()["error"]["message"]


def _widget(endpoint: Any, path: str, body: dict[str, Any] | None = None, session: str = "") -> Any:
    headers: dict[str, str] = {"HTTP_ORIGIN": SITE}
    if session:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {session}"
    url = f"/webchat/{endpoint.address}/{path}"
    if body is None:
        return Client().get(url, **headers).json()
    return Client().post(url, json.dumps(body), "application/json", **headers).json()


def test_a_visitors_typed_email_is_a_claim_that_routes_nothing(tenant: Tenant) -> None:
    endpoint = make_widget(tenant, prechat_fields=["name", "email"])
    session = _widget(endpoint, "session", {"name": "Val", "email": "val@example.org"})["session"]
    sent = _widget(endpoint, "messages", {"body": "Where is my parcel?"}, session)
    visitor = Message.objects.get(pk=sent["message"]["id"]).contact
    assert not ContactIdentity.objects.filter(kind="email").exists()
    claim = Fact.objects.get(contact=visitor, key="email")
    assert claim.value == "val@example.org" and not claim.protected
    # Someone (Val, or not) later emails from that address: a record of its own, never the visitor's chat.
    mail = inbound(tenant.account, endpoint.inbox, "val@example.org", "Parcel question", kind="email", channel="email")
    chat_conversation = Message.objects.get(pk=sent["message"]["id"]).conversation_id
    assert mail.contact_id != visitor.pk and mail.conversation_id != chat_conversation
    reply = send_message(account=tenant.account, conversation=mail.conversation, body="Your parcel ships today")
    assert reply.contact_id != visitor.pk
    history = _widget(endpoint, "messages?after=0", session=session)["messages"]
    assert [m["body"] for m in history] == ["Where is my parcel?"]


def test_a_person_who_merges_verifies_the_visitors_claim_and_undo_takes_it_back(tenant: Tenant) -> None:
    """The visitor typed val@example.org; Val later emails from it. A person who merges the two has checked that
    they are one customer: the claim is confirmed in their name (and no longer reads "unverified"). Undo un-confirms."""
    endpoint = make_widget(tenant, prechat_fields=["name", "email"])
    session = _widget(endpoint, "session", {"name": "Val", "email": "val@example.org"})["session"]
    sent = _widget(endpoint, "messages", {"body": "Where is my parcel?"}, session)
    visitor = Message.objects.get(pk=sent["message"]["id"]).contact
    mail = inbound(tenant.account, endpoint.inbox, "val@example.org", "Parcel question", kind="email", channel="email")
    claim = Fact.objects.get(contact=visitor, key="email")
    assert "unverified" in claim.author_label and not claim.protected

    contact_merge(account=tenant.account, actor=tenant.admin, keep=mail.contact, drop=visitor)
    claim.refresh_from_db()
    assert claim.confirmed_by_id == tenant.admin.pk and claim.protected and "unverified" not in claim.author_label

    merge = AuditLog.objects.get(action="contact.merged")
    assert tenant.client("admin").post(api(tenant, f"/contact-merges/{merge.pk}/undo")).status_code == 200
    claim.refresh_from_db()
    assert claim.confirmed_by_id is None and not claim.protected


def test_after_a_person_merges_a_visitor_the_browser_sees_only_its_own_chat(tenant: Tenant) -> None:
    endpoint = make_widget(tenant)
    earlier = webchat.Visitor(endpoint=endpoint, visitor_id="browser-of-someone-else", identifier="")
    webchat.receive(earlier, "my account password hint is blue")
    session = _widget(endpoint, "session", {})["session"]
    mine = _widget(endpoint, "messages", {"body": "hello, new here"}, session)
    me = Message.objects.get(pk=mine["message"]["id"]).contact
    other = Message.objects.get(body__startswith="my account password").contact
    contact_merge(account=tenant.account, actor=tenant.admin, keep=other, drop=me)
    history = _widget(endpoint, "messages?after=0", session=session)["messages"]
    assert [m["body"] for m in history] == ["hello, new here"]


def test_the_audit_page_offers_undo_for_a_recent_merge_only(tenant: Tenant, two_teams: dict[str, Any]) -> None:
    a = inbound(tenant.account, two_teams["support"], "+15550007777", "a")
    b = inbound(tenant.account, two_teams["support"], "+15550008888", "b")
    contact_merge(account=tenant.account, actor=tenant.admin, keep=a.contact, drop=b.contact)
    merge = AuditLog.objects.get(action="contact.merged")
    browser = Client()
    browser.force_login(tenant.admin)
    page = browser.get(f"/a/{tenant.account.pk}/settings/audit/").content.decode()
    assert "Undo merge" in page and f"/contact-merges/{merge.pk}/undo" in page
    assert tenant.client("admin").post(api(tenant, f"/contact-merges/{merge.pk}/undo")).status_code == 200
    assert "Undo merge" not in browser.get(f"/a/{tenant.account.pk}/settings/audit/").content.decode()

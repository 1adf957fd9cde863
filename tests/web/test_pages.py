"""The console's pages through Django's test client: who sees what, folders, unread counts, escaping, CSP, and
query counts that stay flat as the account grows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ai_agent.models import AgentSettings
from inbox.models import InboxMember
from inbox.services import (
    conversation_assign,
    conversation_hand_to_human,
    conversation_set_status,
    conversation_snooze,
    send_message,
)
from memory.services import fact_record_ai, handoff_record, sentiment_record
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shop(tenant: Tenant) -> dict[str, Any]:
    """Sales (the agent is a member) and Billing (the agent is not)."""
    sales = InboxFactory(account=tenant.account, name="Sales")
    billing = InboxFactory(account=tenant.account, name="Billing")
    InboxMember.objects.create(account=tenant.account, inbox=sales, user=tenant.agent)
    return {"sales": sales, "billing": billing}


def page(client: Client, name: str, **kwargs: Any) -> Any:
    return client.get(reverse(f"web:{name}", kwargs=kwargs))


def test_sign_in_required_and_single_account_lands_in_its_inbox(tenant: Tenant) -> None:
    assert Client().get("/").status_code == 302
    response = signed_in(tenant.agent).get("/")
    assert response.status_code == 302
    assert response.url == reverse("web:inbox", kwargs={"account_id": tenant.account.pk})


def test_people_in_several_accounts_choose_one(tenant: Tenant, other_tenant: Tenant) -> None:
    from accounts.models import Membership

    Membership.objects.create(account=other_tenant.account, user=tenant.agent, role="agent")
    response = signed_in(tenant.agent).get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert tenant.account.name in text and other_tenant.account.name in text


def test_agents_see_only_their_inboxes(tenant: Tenant, shop: dict[str, Any]) -> None:
    inbound(tenant.account, shop["sales"], "+15550001111", "Sales question about pricing")
    secret = inbound(tenant.account, shop["billing"], "+15550002222", "Billing secret about invoice 77")
    agent = signed_in(tenant.agent)
    text = page(agent, "inbox", account_id=tenant.account.pk).content.decode()
    assert "Sales question about pricing" in text
    assert "Billing secret" not in text and "Billing</a>" not in text
    assert (
        page(agent, "conversation", account_id=tenant.account.pk, conversation_id=secret.conversation_id).status_code
        == 404
    )
    admin_text = page(signed_in(tenant.admin), "inbox", account_id=tenant.account.pk).content.decode()
    assert "Billing secret about invoice 77" in admin_text


def test_other_accounts_pages_are_404(tenant: Tenant, other_tenant: Tenant) -> None:
    inbox = InboxFactory(account=other_tenant.account, name="Theirs")
    message = inbound(other_tenant.account, inbox, "+15550003333", "Not yours")
    client = signed_in(tenant.admin)
    A = other_tenant.account.pk
    for name, kwargs in [
        ("inbox", {}),
        ("conversation", {"conversation_id": message.conversation_id}),
        ("thread", {"conversation_id": message.conversation_id}),
        ("memory", {"conversation_id": message.conversation_id}),
        ("contact", {"contact_id": message.contact_id}),
        ("search", {}),
        ("settings", {}),
        ("settings-inbox", {"inbox_id": inbox.pk}),
        ("settings-tokens", {}),
        ("conversation-new", {}),
        ("email-original", {"conversation_id": message.conversation_id, "message_id": message.pk}),
    ]:
        assert page(client, name, account_id=A, **kwargs).status_code == 404, name
        if name not in ("inbox", "search", "settings", "settings-tokens", "conversation-new"):
            # their object through our own account's URL: still nothing
            assert page(client, name, account_id=tenant.account.pk, **kwargs).status_code == 404, name


def test_settings_are_for_admins(tenant: Tenant, shop: dict[str, Any]) -> None:
    agent = signed_in(tenant.agent)
    A = tenant.account.pk
    assert page(agent, "settings", account_id=A).status_code == 403
    assert page(agent, "settings-inbox", account_id=A, inbox_id=shop["sales"].pk).status_code == 403
    assert page(agent, "settings-members", account_id=A).status_code == 403
    assert page(agent, "settings-audit", account_id=A).status_code == 403
    assert page(agent, "settings-tokens", account_id=A).status_code == 200  # their own tokens


def test_folders(tenant: Tenant, shop: dict[str, Any]) -> None:
    A, sales = tenant.account, shop["sales"]
    AgentSettings.objects.create(account=A, inbox=sales, enabled=True, answer_mode="always")  # the AI answers
    ai = inbound(A, sales, "+15550000001", "AI has this one").conversation
    mine = inbound(A, sales, "+15550000002", "Mine to handle").conversation
    conversation_hand_to_human(account=A, conversation=mine, assignee=tenant.agent, text="handed over")
    unassigned = inbound(A, sales, "+15550000003", "Nobody owns this").conversation
    conversation_hand_to_human(account=A, conversation=unassigned, assignee=None, text="handed over")
    done = inbound(A, sales, "+15550000004", "All done here").conversation
    conversation_set_status(account=A, actor=None, conversation=done, status="resolved")
    escalated = inbound(A, sales, "+15550000005", "Escalated thing").conversation
    conversation_set_status(account=A, actor=None, conversation=escalated, status="escalated")
    later = inbound(A, sales, "+15550000006", "Call me next week").conversation
    conversation_hand_to_human(account=A, conversation=later, assignee=None, text="handed over")
    conversation_snooze(account=A, actor=None, conversation=later, until=timezone.now() + timedelta(days=2))
    agent = signed_in(tenant.agent)

    def shown(folder: str) -> set[str]:
        text = agent.get(reverse("web:conversation-list", kwargs={"account_id": A.pk}), {"folder": folder}).content
        return set(re.findall(r'data-conversation-id="(\d+)"', text.decode()))

    ids = {c: str(c.pk) for c in (ai, mine, unassigned, done, escalated, later)}
    assert shown("mine") == {ids[mine]}
    assert shown("unassigned") == {ids[unassigned]}
    assert shown("ai") == {ids[ai], ids[escalated]}
    # a handoff escalates: a person owes the customer the next reply (the snoozed one waits for its time)
    assert shown("escalated") == {ids[escalated], ids[mine], ids[unassigned]}
    assert shown("snoozed") == {ids[later]}
    assert shown("resolved") == {ids[done]}
    assert shown("all") == set(ids.values())


def test_unread_until_opened_and_again_when_the_customer_writes(tenant: Tenant, shop: dict[str, Any]) -> None:
    A, sales = tenant.account, shop["sales"]
    first = inbound(A, sales, "+15550000001", "Are you open Sunday?")
    agent = signed_in(tenant.agent)

    def unread_badge() -> str:
        text = page(agent, "inbox", account_id=A.pk).content.decode()
        match = re.search(r"Sales <span class=\"count\">(\d+)", text)
        return match.group(1) if match else "0"

    assert unread_badge() == "1"
    assert page(agent, "conversation", account_id=A.pk, conversation_id=first.conversation_id).status_code == 200
    assert unread_badge() == "0"
    inbound(A, sales, "+15550000001", "Hello?")
    assert unread_badge() == "1"
    # reading is per person: the admin has not read it
    admin_text = page(signed_in(tenant.admin), "inbox", account_id=A.pk).content.decode()
    assert 'class="row unread' in admin_text


def test_unread_counts_stop_at_the_cap(tenant: Tenant, shop: dict[str, Any], monkeypatch: Any) -> None:
    """Counting stops at UNREAD_CAP per inbox (bounded cost at any volume); the nav then says "99+"-style."""
    import inbox.selectors
    import web.context

    monkeypatch.setattr(inbox.selectors, "UNREAD_CAP", 3)
    monkeypatch.setattr(web.context, "UNREAD_CAP", 3)
    A, sales, billing = tenant.account, shop["sales"], shop["billing"]
    for n in range(5):
        inbound(A, sales, f"+1555000010{n}", "hello")
    inbound(A, billing, "+15550000200", "billing question")
    text = page(signed_in(tenant.admin), "inbox", account_id=A.pk).content.decode()
    assert re.search(r"Sales <span class=\"count\">2\+", text)  # 5 unread, counted up to 3
    assert re.search(r"Billing <span class=\"count\">1<", text)
    assert re.search(r"All inboxes <span class=\"count\" title=\"unread\">4\+", text)  # 3 + 1, and more


def test_customer_text_is_escaped_everywhere(tenant: Tenant, shop: dict[str, Any]) -> None:
    message = inbound(tenant.account, shop["sales"], "+15550000009", f"Hi {XSS} pumpkin", name=XSS)
    fact_record_ai(
        account=tenant.account,
        contact=message.contact,
        inbox=shop["sales"],
        key="name",
        value=XSS,
        confidence=0.9,
        engine="local/1",
        source_message=message,
        conversation=message.conversation,
    )
    client = signed_in(tenant.admin)
    A = tenant.account.pk
    for response in [
        page(client, "inbox", account_id=A),
        page(client, "conversation", account_id=A, conversation_id=message.conversation_id),
        page(client, "contact", account_id=A, contact_id=message.contact_id),
        client.get(reverse("web:search", kwargs={"account_id": A}), {"q": "pumpkin"}),
    ]:
        text = response.content.decode()
        assert response.status_code == 200
        assert XSS not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_pages_carry_a_strict_csp_and_no_inline_script_or_style(tenant: Tenant, shop: dict[str, Any]) -> None:
    message = inbound(tenant.account, shop["sales"], "+15550000009", "Hello")
    client = signed_in(tenant.admin)
    A = tenant.account.pk
    for response in [
        page(client, "inbox", account_id=A),
        page(client, "conversation", account_id=A, conversation_id=message.conversation_id),
        page(client, "contact", account_id=A, contact_id=message.contact_id),
        page(client, "settings", account_id=A),
        page(client, "settings-inbox", account_id=A, inbox_id=shop["sales"].pk),
        Client().get(reverse("login")),
    ]:
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        text = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
        assert not re.search(r"\son[a-z]+=", text), "inline event handler"
        assert not re.search(r"\sstyle=", text), "inline style attribute"


def test_conversation_page_shows_thread_memory_and_pinned_handoff(tenant: Tenant, shop: dict[str, Any]) -> None:
    A, sales = tenant.account, shop["sales"]
    message = inbound(A, sales, "+15550000009", "My order ORD-1 never came and I am upset", name="Rosa Diaz")
    conversation = message.conversation
    fact_record_ai(
        account=A,
        contact=message.contact,
        inbox=sales,
        key="email",
        value="rosa@example.com",
        confidence=0.9,
        engine="local/1",
        source_message=message,
        conversation=conversation,
    )
    send_message(account=A, conversation=conversation, body="Looking into it", kind="note", sender_user=tenant.admin)
    handoff_record(
        account=A,
        conversation=conversation,
        from_party="AI agent",
        reason="The customer asked for a person",
        what_was_done={"actions": ["Greeted the customer"], "facts_collected": {"email": "rosa@example.com"}},
        missing=["order number"],
        suggested_next_step="Call her back",
    )
    sentiment_record(account=A, message=message, score=-0.6, engine="local/1")
    conversation_hand_to_human(account=A, conversation=conversation, assignee=tenant.agent, text="handed over")
    text = page(signed_in(tenant.agent), "conversation", account_id=A.pk, conversation_id=conversation.pk).content
    html = text.decode()
    assert "My order ORD-1 never came" in html
    assert "Private note" in html and "Looking into it" in html
    assert 'class="card handoff pinned"' in html
    assert "The customer asked for a person" in html and "Greeted the customer" in html and "Call her back" in html
    assert "rosa@example.com" in html and f"#message-{message.pk}" in html
    assert '<svg class="chart"' in html and 'class="point mood-negative"' in html


def test_handoff_card_unpins_once_the_person_replies(tenant: Tenant, shop: dict[str, Any]) -> None:
    A = tenant.account
    conversation = inbound(A, shop["sales"], "+15550000009", "Help please").conversation
    handoff_record(account=A, conversation=conversation, from_party="AI agent", reason="asked for a person")
    conversation_hand_to_human(account=A, conversation=conversation, assignee=tenant.agent, text="handed over")
    send_message(account=A, conversation=conversation, body="Hi, I am on it", sender_user=tenant.agent)
    html = page(signed_in(tenant.agent), "memory", account_id=A.pk, conversation_id=conversation.pk).content.decode()
    assert "asked for a person" in html and "handoff pinned" not in html


def test_search_finds_messages_contacts_and_numbers_in_visible_inboxes(tenant: Tenant, shop: dict[str, Any]) -> None:
    A = tenant.account
    mine = inbound(A, shop["sales"], "+15550000001", "The refunds policy please", name="Ann Lee")
    inbound(A, shop["billing"], "+15550000002", "Refund my invoice", name="Bob Hidden")
    agent = signed_in(tenant.agent)
    url = reverse("web:search", kwargs={"account_id": A.pk})
    text = agent.get(url, {"q": "refund"}).content.decode()
    assert "The refunds policy please" in text and "Refund my invoice" not in text
    assert "Ann Lee" in agent.get(url, {"q": "555 000 0001"}).content.decode()
    assert f"#{mine.conversation.number}" in agent.get(url, {"q": f"#{mine.conversation.number}"}).content.decode()


def test_contact_merge_preview_and_merged_contact_redirects(tenant: Tenant, shop: dict[str, Any]) -> None:
    from contacts.services import contact_merge

    A = tenant.account
    one = inbound(A, shop["sales"], "+15550000001", "from my phone", name="Rosa Diaz").contact
    two = inbound(A, shop["sales"], "rosa@example.com", "from my email", kind="email", channel="email").contact
    client = signed_in(tenant.agent)
    found = client.get(
        reverse("web:contact", kwargs={"account_id": A.pk, "contact_id": one.pk}), {"merge_q": "rosa@example.com"}
    )
    assert (
        reverse("web:merge", kwargs={"account_id": A.pk, "contact_id": one.pk, "other_id": two.pk})
        in found.content.decode()
    )
    preview = page(client, "merge", account_id=A.pk, contact_id=one.pk, other_id=two.pk).content.decode()
    assert "+15550000001" in preview and "rosa@example.com" in preview and "Merge contacts" in preview
    contact_merge(account=A, actor=tenant.agent, keep=one, drop=two)
    response = page(client, "contact", account_id=A.pk, contact_id=two.pk)
    assert response.status_code == 302 and response.url.endswith(f"/contacts/{one.pk}/")
    timeline = client.get(response.url).content.decode()
    assert "from my phone" in timeline and "from my email" in timeline


def test_inbox_settings_show_webhook_urls_and_never_credentials(
    tenant: Tenant, shop: dict[str, Any], settings: Any
) -> None:
    from channels_app.credentials import credentials_encrypt
    from channels_app.models import ChannelEndpoint

    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    endpoint = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=shop["sales"],
        kind="sms",
        address="+13125550100",
        credentials_encrypted=credentials_encrypt({"account_sid": "AC" + "1" * 32, "auth_token": "tok-secret-123"}),
    )
    url = reverse("web:settings-inbox", kwargs={"account_id": tenant.account.pk, "inbox_id": shop["sales"].pk})
    text = signed_in(tenant.admin).get(url + "?tab=channels").content.decode()
    assert f"https://inbox.example.com/webhooks/twilio/{endpoint.public_id}/messaging" in text
    assert "tok-secret-123" not in text and "1" * 32 not in text


def _count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_counts_stay_flat(tenant: Tenant, shop: dict[str, Any]) -> None:
    A, sales = tenant.account, shop["sales"]
    first = inbound(A, sales, "+15550000000", "first")
    client = signed_in(tenant.agent)
    inbox_url = reverse("web:inbox", kwargs={"account_id": A.pk})
    conversation_url = reverse(
        "web:conversation", kwargs={"account_id": A.pk, "conversation_id": first.conversation_id}
    )
    small_inbox, small_conversation = _count_queries(client, inbox_url), _count_queries(client, conversation_url)
    for n in range(1, 12):
        message = inbound(A, sales, f"+1555000{n:04d}", f"message {n}")
        conversation_assign(account=A, actor=None, conversation=message.conversation, assignee=tenant.agent)
        inbound(A, sales, "+15550000000", f"more {n}")
        send_message(account=A, conversation=first.conversation, body=f"reply {n}", sender_user=tenant.agent)
    assert _count_queries(client, inbox_url) == small_inbox
    assert _count_queries(client, conversation_url) == small_conversation
    # session, user, membership, entering the tenant wall (RLS), inboxes, unread counts, the agent's inbox ids, the
    # account's labels (filter and bulk bar), folder page, the page's labels, the person's saved views, the account
    # switcher, leaving the wall
    assert small_inbox == 13, small_inbox
    # the above, plus the conversation, its members, thread (+attachments), read marker, recall (1), series, and
    # other records that claimed this customer's addresses (the "Same person?" card)
    # with labels (the account's for the filter and for the header, the page's, the conversation's) and the
    # notifications about this conversation marked read
    assert small_conversation == 25, small_conversation  # and the saved views, and who a note may mention


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["notifications", "reports", "settings-labels", "labels-css", "settings-members", "contacts"]
)
def test_the_team_pages_render_for_an_admin(tenant: Tenant, name: str) -> None:
    from inbox.models import CannedResponse, Label

    Label.objects.create(account=tenant.account, name="VIP", colour="#b45309")
    CannedResponse.objects.create(account=tenant.account, shortcut="hours", body="Hi {{contact.first_name}}")
    response = signed_in(tenant.admin).get(reverse(f"web:{name}", kwargs={"account_id": tenant.account.pk}))
    assert response.status_code == 200, response.content[:500]
    if name == "labels-css":
        assert response.content.decode().endswith("{--chip:#b45309}")


def test_no_template_carries_inline_style_or_script() -> None:
    """The Content Security Policy allows neither: anything inline would be dropped by the browser."""
    from tests.conftest import ROOT

    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*.html")
        if re.search(r'\sstyle="|\son[a-z]+="|<script>(?!</script>)', path.read_text())
    ]
    assert offenders == []


@pytest.mark.django_db
def test_the_contacts_page_lists_and_finds_customers(tenant: Tenant, shop: dict[str, Any]) -> None:
    inbound(tenant.account, shop["sales"], "+13125550188", "hi", name="Rosa Diaz")
    inbound(tenant.account, shop["sales"], "ben@example.org", "hello", kind="email", channel="email", name="Ben Carter")
    client = signed_in(tenant.agent)
    url = reverse("web:contacts", kwargs={"account_id": tenant.account.pk})
    listed = client.get(url).content.decode()
    assert "Rosa Diaz" in listed and "Ben Carter" in listed and "+13125550188" in listed
    found = client.get(url, {"q": "312 555 0188"}).content.decode()
    assert "Rosa Diaz" in found and "Ben Carter" not in found
    assert 'id="shortcuts"' in listed  # the ? sheet is on every console page


@pytest.mark.django_db
def test_the_audit_log_reads_in_words_without_ai_note_versions(tenant: Tenant, shop: dict[str, Any]) -> None:
    from memory.services import fact_definition_create, fact_set

    message = inbound(tenant.account, shop["sales"], "+13125550188", "hi")
    fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=shop["sales"], key="policy_number",
                           label="Policy number")  # fmt: skip
    for value in ("PN-1", "PN-2"):
        fact_set(account=tenant.account, actor=tenant.admin, contact=message.contact, inbox=shop["sales"],
                 key="policy_number", value=value)  # fmt: skip
    from memory.services import note_write

    note_write(account=tenant.account, conversation=message.conversation, need="x", status="y", next_step="z",
               engine="local/1")  # fmt: skip
    text = signed_in(tenant.admin).get(reverse("web:settings-audit", kwargs={"account_id": tenant.account.pk}))
    html = text.content.decode()
    name = tenant.admin.display_name
    assert f"{name} corrected the policy_number of a customer" in html
    assert f"{name} taught an inbox to remember policy_number" in html
    assert "memory.note_written" not in html  # the AI's note versions stay out of the people's log


@pytest.mark.django_db
def test_a_definition_that_shadows_a_built_in_shared_fact_is_flagged(tenant: Tenant, shop: dict[str, Any]) -> None:
    from memory.services import fact_definition_create

    fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=shop["sales"], key="phone",
                           label="Phone")  # fmt: skip
    url = reverse("web:settings-inbox", kwargs={"account_id": tenant.account.pk, "inbox_id": shop["sales"].pk})
    html = signed_in(tenant.admin).get(url + "?tab=facts").content.decode()
    assert "Replaces the built-in phone, which every inbox shares" in html


@pytest.mark.django_db
def test_the_contact_page_shows_and_offers_labels(tenant: Tenant, shop: dict[str, Any]) -> None:
    from inbox.models import ContactLabel, Label

    message = inbound(tenant.account, shop["sales"], "+13125550188", "hi", name="Rosa Diaz")
    vip = Label.objects.create(account=tenant.account, name="VIP")
    Label.objects.create(account=tenant.account, name="Lead")
    ContactLabel.objects.create(account=tenant.account, contact=message.contact, label=vip)
    html = (
        signed_in(tenant.agent)
        .get(reverse("web:contact", kwargs={"account_id": tenant.account.pk, "contact_id": message.contact_id}))
        .content.decode()
    )
    assert f'class="chip l-{vip.pk}">VIP' in html and "Add a label to this customer" in html and ">Lead<" in html


@pytest.mark.django_db
def test_a_webchat_visitor_is_named_by_when_it_first_wrote_not_by_its_random_id(
    tenant: Tenant, shop: dict[str, Any]
) -> None:
    from contacts.services import identity_add

    message = inbound(tenant.account, shop["sales"], "+13125550189", "hi", name="Rosa Diaz")
    visitor = "v_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    identity_add(account=tenant.account, actor=None, contact=message.contact, kind="webchat", raw_value=visitor)
    html = (
        signed_in(tenant.agent)
        .get(reverse("web:contact", kwargs={"account_id": tenant.account.pk, "contact_id": message.contact_id}))
        .content.decode()
    )
    assert "A browser first seen" in html
    assert f">{visitor}<" not in html and f'title="visitor id {visitor}"' in html  # the id only as a tooltip
    assert "+13125550189" in html  # other addresses are shown as they are


@pytest.mark.django_db
def test_the_conversation_header_keeps_the_common_actions_and_folds_the_rest(
    tenant: Tenant, shop: dict[str, Any]
) -> None:
    message = inbound(tenant.account, shop["sales"], "+13125550190", "hi")
    kwargs = {"account_id": tenant.account.pk, "conversation_id": message.conversation_id}
    url = reverse("web:conversation", kwargs=kwargs)
    html = signed_in(tenant.agent).get(url).content.decode()
    header = html[html.index('id="conversation-header"') : html.index('id="memory"')]
    more = header[header.index('class="more-actions"') :]
    for always in ("Assign to", "Set status"):
        assert always in header[: header.index('class="more-actions"')]
    for folded in ("Snooze until", "Set priority"):
        assert folded in more

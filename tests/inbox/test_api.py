"""The inbox core's REST API: inboxes, conversations and their actions, messages, timelines, search, and the
inbox wall between agents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from channels_app.models import ChannelEndpoint, MessageTemplate
from inbox.models import Conversation, Inbox, Message
from inbox.services import inbox_member_add, send_message
from tests.conftest import RLS, Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


def api(tenant: Tenant, path: str) -> str:
    return f"/api/v1/accounts/{tenant.account.pk}{path}"


@pytest.fixture
def sales_and_billing(tenant: Tenant) -> tuple[Inbox, Inbox]:
    """Sales has the agent as a member; Billing does not."""
    sales = InboxFactory(account=tenant.account, name="Sales")
    billing = InboxFactory(account=tenant.account, name="Billing")
    inbox_member_add(account=tenant.account, actor=None, inbox=sales, user=tenant.agent)
    return sales, billing


class TestInboxes:
    def test_admin_creates_and_configures(self, tenant: Tenant) -> None:
        created = tenant.client().post(
            api(tenant, "/inboxes"),
            {
                "name": "Support",
                "purpose": "Repairs",
                "timezone": "America/Chicago",
                "business_hours": {"mon": [["09:00", "17:00"]]},
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
        inbox_id = created.json()["id"]
        bad = tenant.client().patch(
            api(tenant, f"/inboxes/{inbox_id}"), {"business_hours": {"mon": [["17:00", "09:00"]]}}, format="json"
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["fields"] == {
            "business_hours": ["mon: 17:00-09:00 is not a range like 09:00-17:00."]
        }
        dup = tenant.client().post(api(tenant, "/inboxes"), {"name": "support"}, format="json")
        assert dup.status_code == 409

    def test_agents_see_only_their_inboxes_and_cannot_configure(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, billing = sales_and_billing
        names = [i["name"] for i in tenant.client("agent").get(api(tenant, "/inboxes")).json()["results"]]
        assert names == ["Sales"]
        assert tenant.client("agent").get(api(tenant, f"/inboxes/{billing.pk}")).status_code == 404
        assert (
            tenant.client("agent").patch(api(tenant, f"/inboxes/{sales.pk}"), {"name": "x"}, format="json").status_code
            == 403
        )
        assert [i["name"] for i in tenant.client().get(api(tenant, "/inboxes")).json()["results"]] == [
            "Billing",
            "Sales",
        ]

    def test_members(self, tenant: Tenant, sales_and_billing: Any) -> None:
        _sales, billing = sales_and_billing
        added = tenant.client().post(
            api(tenant, f"/inboxes/{billing.pk}/members"), {"user": tenant.agent.pk}, format="json"
        )
        assert added.status_code == 201
        assert [m["user"]["id"] for m in tenant.client().get(api(tenant, f"/inboxes/{billing.pk}/members")).json()] == [
            tenant.agent.pk
        ]
        assert tenant.client("agent").get(api(tenant, f"/inboxes/{billing.pk}")).status_code == 200
        assert (
            tenant.client().delete(api(tenant, f"/inboxes/{billing.pk}/members/{tenant.agent.pk}")).status_code == 204
        )
        assert tenant.client("agent").get(api(tenant, f"/inboxes/{billing.pk}")).status_code == 404

    def test_member_from_another_account_is_refused(
        self, tenant: Tenant, other_tenant: Tenant, sales_and_billing: Any
    ) -> None:
        sales, _ = sales_and_billing
        response = tenant.client().post(
            api(tenant, f"/inboxes/{sales.pk}/members"), {"user": other_tenant.agent.pk}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["user"][0].startswith("Invalid pk")

    def test_only_an_empty_inbox_can_be_deleted(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, billing = sales_and_billing
        inbound(tenant.account, sales)
        assert tenant.client().delete(api(tenant, f"/inboxes/{sales.pk}")).status_code == 409
        assert tenant.client().delete(api(tenant, f"/inboxes/{billing.pk}")).status_code == 204


class TestConversations:
    def test_agent_never_sees_another_inbox(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, billing = sales_and_billing
        mine = inbound(tenant.account, sales, "+15550000001", "quote")
        theirs = inbound(tenant.account, billing, "+15550000002", "invoice")
        agent = tenant.client("agent")
        listed = agent.get(api(tenant, "/conversations")).json()["results"]
        assert [c["id"] for c in listed] == [mine.conversation_id]
        for path in ["", "/messages", "/assign", "/take-over", "/call"]:
            method = agent.get if path in ("", "/messages") else agent.post
            assert method(api(tenant, f"/conversations/{theirs.conversation_id}{path}")).status_code == 404
        assert agent.get(api(tenant, f"/conversations?inbox={billing.pk}")).json()["results"] == []
        timeline = agent.get(api(tenant, f"/contacts/{theirs.contact_id}/timeline")).json()["results"]
        assert timeline == []
        assert agent.get(api(tenant, "/search?q=invoice")).json()["messages"] == []
        # nor rewrites another inbox's customer: merging or removing an address
        merge = agent.post(api(tenant, f"/contacts/{theirs.contact_id}/merge"), {"drop": mine.contact_id}, "json")
        assert merge.status_code == 404
        identity = theirs.contact.identities.get()
        assert agent.delete(api(tenant, f"/contacts/{theirs.contact_id}/identities/{identity.pk}")).status_code == 404
        # nor labels, resends, bulk actions, canned responses, reports or saved views of another inbox
        assert agent.post(api(tenant, f"/conversations/{theirs.conversation_id}/labels"), {}, "json").status_code == 404
        assert agent.post(api(tenant, f"/contacts/{theirs.contact_id}/labels"), {}, "json").status_code == 404
        resend = f"/conversations/{theirs.conversation_id}/messages/{theirs.pk}/resend"
        assert agent.post(api(tenant, resend)).status_code == 404
        original = f"/conversations/{theirs.conversation_id}/messages/{theirs.pk}/original"
        assert agent.get(api(tenant, original)).status_code == 404
        # nor another inbox's WhatsApp templates, nor a template sent into its conversation
        sender = ChannelEndpoint.objects.create(account=tenant.account, inbox=theirs.inbox, kind="whatsapp",
                                                address="+15550009999")  # fmt: skip
        template = MessageTemplate.objects.create(account=tenant.account, endpoint=sender, content_sid="HX" + "7" * 32,
                                                  name="theirs", body="Hi {{1}}", status="approved")  # fmt: skip
        assert agent.get(api(tenant, "/whatsapp-templates")).json()["results"] == []
        assert agent.get(api(tenant, f"/whatsapp-templates/{template.pk}")).status_code == 404
        sent = agent.post(api(tenant, f"/whatsapp-templates/{template.pk}/send"),
                          {"conversation": theirs.conversation_id, "variables": {"1": "x"}}, "json")  # fmt: skip
        assert sent.status_code == 404
        bulk = agent.post(api(tenant, "/conversations/bulk"), {"ids": [theirs.conversation_id], "action": "resolve"},
                          "json")  # fmt: skip
        assert bulk.status_code == 400 and "ids" in bulk.json()["error"]["fields"]
        canned = agent.get(api(tenant, f"/canned-responses?conversation={theirs.conversation_id}"))
        assert canned.status_code == 400 and "conversation" in canned.json()["error"]["fields"]
        assert agent.get(api(tenant, "/reports?group=inbox")).json()["rows"] == []
        view = agent.post(api(tenant, "/saved-views"), {"name": "x", "query": {"inbox": billing.pk}}, "json")
        assert view.status_code == 400
        # nor writes first from another inbox
        first = {"inbox": billing.pk, "channel": "sms", "to": "+15550000009", "body": "hi"}
        started = agent.post(api(tenant, "/conversation-starts"), first, "json")
        assert started.status_code == 400 and "inbox" in started.json()["error"]["fields"]
        # nor the channel sandbox of another inbox: its transcript holds that team's replies
        from channels_app.sandbox import sandbox_enable

        sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=billing)
        assert agent.get(api(tenant, "/sandbox")).json() == {"enabled": False, "endpoints": {}}
        played = agent.post(api(tenant, "/sandbox/messages"), {"channel": "sms", "address": "+15550000002",
                                                               "body": "hi"}, "json")  # fmt: skip
        assert played.status_code == 400 and "channel" in played.json()["error"]["fields"]
        assert (
            tenant.client()
            .post(api(tenant, "/sandbox/messages"), {"channel": "sms", "address": "+15550000002", "body": "hi"}, "json")
            .status_code
            == 201
        )
        assert agent.get(api(tenant, "/sandbox/messages?customer=%2B15550000002")).json() == []

    def test_filters(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, billing = sales_and_billing
        a = inbound(tenant.account, sales, "+15550000001", "a").conversation
        b = inbound(tenant.account, billing, "+15550000002", "b").conversation
        admin = tenant.client()
        admin.post(api(tenant, f"/conversations/{a.pk}/assign"), {"assignee": tenant.agent.pk}, format="json")
        admin.post(api(tenant, f"/conversations/{b.pk}/status"), {"status": "escalated"}, format="json")

        def ids(query: str, client: APIClient = admin) -> list[int]:
            response = client.get(api(tenant, f"/conversations?{query}"))
            assert response.status_code == 200, response.json()
            return [c["id"] for c in response.json()["results"]]

        assert ids("") == [b.pk, a.pk]  # most recent activity first
        assert ids(f"inbox={sales.pk}") == [a.pk]
        assert ids("status=escalated") == [b.pk]
        assert ids(f"assignee={tenant.agent.pk}") == [a.pk]
        assert ids("unassigned=true") == [b.pk]
        assert ids("mine=true", tenant.client("agent")) == [a.pk]
        assert ids("handled_by=human") == [b.pk, a.pk]  # no AI agent answers these inboxes: the team's
        assert ids("handled_by=ai") == []
        bad = admin.get(api(tenant, "/conversations?status=open"))
        assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]

    def test_actions_write_activity_lines(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, _ = sales_and_billing
        conversation = inbound(tenant.account, sales).conversation
        agent = tenant.client("agent")
        url = api(tenant, f"/conversations/{conversation.pk}")
        taken = agent.post(f"{url}/take-over").json()
        assert taken["handled_by"] == "human" and taken["assignee"]["id"] == tenant.agent.pk
        assert agent.post(f"{url}/priority", {"priority": 4}, format="json").json()["priority"] == 4
        until = (timezone.now() + timedelta(hours=3)).isoformat()
        assert agent.post(f"{url}/snooze", {"until": until}, format="json").json()["snoozed_until"] is not None
        past = agent.post(f"{url}/snooze", {"until": "2001-01-01T00:00:00Z"}, format="json")
        assert past.status_code == 400 and past.json()["error"]["fields"] == {
            "until": ["Snooze until a time in the future."]
        }
        assert agent.post(f"{url}/hand-back").json()["handled_by"] == "ai"
        assert agent.post(f"{url}/unassign").json()["assignee"] is None
        assert agent.post(f"{url}/status", {"status": "resolved"}, format="json").json()["status"] == "resolved"
        activity = list(
            Message.objects.filter(conversation=conversation, kind="activity")
            .order_by("id")
            .values_list("body", flat=True)
        )
        name = tenant.agent.display_name
        assert activity[0] == f"{name} took over from the AI agent"
        assert activity[1] == f"{name} set the priority to urgent"
        assert activity[-1] == f"{name} changed the status to resolved"

    def test_assigning_someone_outside_the_inbox_is_refused(self, tenant: Tenant, sales_and_billing: Any) -> None:
        _, billing = sales_and_billing
        conversation = inbound(tenant.account, billing).conversation
        response = tenant.client().post(
            api(tenant, f"/conversations/{conversation.pk}/assign"), {"assignee": tenant.agent.pk}, format="json"
        )
        assert response.status_code == 400
        assert "is not a member of this inbox" in response.json()["error"]["message"]

    def test_list_query_count_is_flat_and_cursor_pages(
        self, tenant: Tenant, sales_and_billing: Any, django_assert_num_queries: Any
    ) -> None:
        sales, _ = sales_and_billing
        for n in range(3):
            inbound(tenant.account, sales, f"+1555000{n:04d}", "hi")
        client = tenant.client("agent")
        client.get(api(tenant, "/conversations"))
        # token, membership, the agent's inbox ids, page (cursor pages need no count)
        with django_assert_num_queries(5 + RLS):  # token, membership, inbox ids, page, the page's labels
            client.get(api(tenant, "/conversations"))
        for n in range(3, 30):
            inbound(tenant.account, sales, f"+1555000{n:04d}", "hi")
        with django_assert_num_queries(5 + RLS):
            first = client.get(api(tenant, "/conversations?page_size=20")).json()
        assert len(first["results"]) == 20 and first["next"]
        second = client.get(first["next"]).json()
        assert len(second["results"]) == 10 and second["next"] is None
        assert not {c["id"] for c in first["results"]} & {c["id"] for c in second["results"]}


class TestMessages:
    def test_reply_note_and_thread(
        self, tenant: Tenant, sales_and_billing: Any, django_assert_num_queries: Any
    ) -> None:
        sales, _ = sales_and_billing
        conversation = inbound(tenant.account, sales, body="Is the blue one in stock?").conversation
        agent = tenant.client("agent")
        url = api(tenant, f"/conversations/{conversation.pk}/messages")
        nowhere = agent.post(url, {"body": "Yes, 3 left", "channel": "whatsapp"}, format="json")
        assert nowhere.status_code == 400 and nowhere.json()["error"]["fields"]["channel"] == [
            "This customer has no WhatsApp number: reply on a channel they use, or add it on their contact."
        ]  # refused up front, not failed later
        too_long = agent.post(url, {"body": "x" * 1601, "channel": "sms"}, format="json")
        assert too_long.status_code == 400 and too_long.json()["error"]["fields"]["body"] == [
            "SMS replies hold at most 1,600 characters; this one has 1,601. Shorten it or reply by email."
        ]
        reply = agent.post(url, {"body": "Yes, 3 left", "channel": "sms"}, format="json")
        assert reply.status_code == 201, reply.json()
        assert reply.json()["delivery_status"] == "queued" and reply.json()["channel"] == "sms"
        assert reply.json()["sender_user"]["id"] == tenant.agent.pk
        note = agent.post(url, {"body": "Hold one for her", "kind": "note"}, format="json").json()
        assert note["channel"] == "internal"
        agent.get(url)
        with django_assert_num_queries(5 + RLS):  # token, membership, conversation, page, attachments
            thread = agent.get(url).json()["results"]
        assert [m["body"] for m in thread] == [
            "Hold one for her",
            "Yes, 3 left",
            f"{tenant.agent.display_name} took this by replying",  # answering an unowned conversation takes it
            "Is the blue one in stock?",
        ]
        for n in range(10):
            send_message(account=tenant.account, conversation=conversation, body=f"more {n}")
        with django_assert_num_queries(5 + RLS):
            agent.get(url)
        empty = agent.post(url, {"body": ""}, format="json")
        assert empty.status_code == 400 and empty.json()["error"]["fields"] == {
            "body": ["Write something or attach a file."]
        }

    def test_attachment_upload_download_and_limits(
        self, tenant: Tenant, sales_and_billing: Any, settings: Any, tmp_path: Any
    ) -> None:
        settings.MEDIA_ROOT = tmp_path
        settings.ATTACHMENT_MAX_BYTES = 1024
        sales, billing = sales_and_billing
        conversation = inbound(tenant.account, sales).conversation
        agent = tenant.client("agent")
        url = api(tenant, f"/conversations/{conversation.pk}/messages")
        photo = SimpleUploadedFile("receipt.png", b"\x89PNG" + b"0" * 100, content_type="image/png")
        sent = agent.post(url, {"body": "Here you go", "attachments": [photo]}, format="multipart")
        assert sent.status_code == 201, sent.json()
        attachment = sent.json()["attachments"][0]
        assert attachment["filename"] == "receipt.png" and attachment["size"] == 104
        download = agent.get(attachment["url"])
        assert download.status_code == 200
        assert b"".join(download.streaming_content).startswith(b"\x89PNG")
        assert download["Content-Disposition"].startswith("attachment")

        big = SimpleUploadedFile("big.png", b"0" * 5000, content_type="image/png")
        too_big = agent.post(url, {"body": "x", "attachments": [big]}, format="multipart")
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "too_large"

        hidden = inbound(tenant.account, billing, "+15550009999", "")
        send_message(
            account=tenant.account,
            conversation=hidden.conversation,
            body="x",
            attachments=[
                __import__("inbox.attachments", fromlist=["IncomingFile"]).IncomingFile.from_bytes(
                    "s.txt", b"s", "text/plain"
                )
            ],
        )
        secret = hidden.conversation.messages.exclude(attachments=None).first().attachments.first()
        assert agent.get(api(tenant, f"/attachments/{secret.pk}")).status_code == 404


class TestContactsAndTimeline:
    def test_timeline_spans_channels_and_merges(
        self, tenant: Tenant, sales_and_billing: Any, django_assert_num_queries: Any
    ) -> None:
        sales, _ = sales_and_billing
        chat = inbound(tenant.account, sales, "visitor-42", "after hours question", kind="webchat", channel="webchat")
        sms = inbound(tenant.account, sales, "(555) 010-2030", "texting next morning", name="Rosa")
        client = tenant.client("agent")
        merged = client.post(api(tenant, f"/contacts/{sms.contact_id}/merge"), {"drop": chat.contact_id}, format="json")
        assert merged.status_code == 200, merged.json()
        assert {i["kind"] for i in merged.json()["identities"]} == {"phone", "webchat"}
        old = client.get(api(tenant, f"/contacts/{chat.contact_id}")).json()
        assert old["merged_into"] == sms.contact_id
        url = api(tenant, f"/contacts/{sms.contact_id}/timeline")
        client.get(url)
        with django_assert_num_queries(5 + RLS):  # token, membership, contact, page, attachments
            timeline = client.get(url).json()["results"]
        said = [m for m in timeline if m["kind"] == "message"]
        assert [(m["channel"], m["body"]) for m in said] == [
            ("sms", "texting next morning"),
            ("webchat", "after hours question"),
        ]
        # the two open conversations of the inbox became one: the older (the chat) continues with both
        assert {m["conversation_number"] for m in said} == {chat.conversation.number}
        assert timeline[0]["body"] == f"Contacts merged: #{sms.conversation.number} continues here."
        # the conversation's state at each point: status and owner when the message was written
        assert [(m["conversation_status"], m["conversation_handled_by"]) for m in said] == [
            ("live", "human"),  # no AI agent answers this inbox: the team's from the start
            ("live", "human"),
        ]

    def test_search_contacts_any_format(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, _ = sales_and_billing
        inbound(tenant.account, sales, "+1 (555) 222-3333", "hi", name="Dana Whitfield")
        inbound(tenant.account, sales, "jo@example.com", "hello", kind="email", channel="email", name="Jo Park")
        client = tenant.client("agent")

        def names(q: str) -> list[str]:
            return [c["name"] for c in client.get(api(tenant, "/contacts"), {"q": q}).json()["results"]]

        assert names("dan whit") == ["Dana Whitfield"]
        assert names("555.222.3333") == ["Dana Whitfield"]
        assert names("5552223333") == ["Dana Whitfield"]
        assert names("JO@EXAMPLE.COM") == []  # the local part is kept as typed by the provider
        assert names("jo@EXAMPLE.com") == ["Jo Park"]
        assert names("nobody") == []

    def test_create_with_identities_and_conflicts(self, tenant: Tenant) -> None:
        client = tenant.client()
        created = client.post(
            api(tenant, "/contacts"),
            {
                "name": "Lee",
                "identities": [{"kind": "phone", "value": "555 777 8888"}, {"kind": "email", "value": "lee@x.io"}],
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
        assert {i["value"] for i in created.json()["identities"]} == {"+15557778888", "lee@x.io"}
        again = client.post(
            api(tenant, "/contacts"), {"identities": [{"kind": "phone", "value": "+15557778888"}]}, format="json"
        )
        assert again.status_code == 409
        assert "merge the two contacts instead" in again.json()["error"]["message"]
        bad = client.post(api(tenant, "/contacts"), {"identities": [{"kind": "phone", "value": "12"}]}, format="json")
        assert bad.status_code == 400 and bad.json()["error"]["fields"] == {
            "value": [
                "'12' is not a complete phone number; include the area code (and the country code if it is not in US)."
            ]
        }
        contact_id = created.json()["id"]
        identity = client.post(
            api(tenant, f"/contacts/{contact_id}/identities"),
            {"kind": "whatsapp", "value": "+15557778888"},
            format="json",
        )
        assert identity.status_code == 201
        removed = client.delete(api(tenant, f"/contacts/{contact_id}/identities/{identity.json()['id']}"))
        assert removed.status_code == 204
        renamed = client.patch(
            api(tenant, f"/contacts/{contact_id}"), {"name": "Lee Chan", "attributes": {"plan": "gold"}}, format="json"
        )
        assert renamed.json()["name"] == "Lee Chan" and renamed.json()["attributes"] == {"plan": "gold"}

    def test_merge_refuses_another_accounts_contact(
        self, tenant: Tenant, other_tenant: Tenant, sales_and_billing: Any
    ) -> None:
        sales, _ = sales_and_billing
        mine = inbound(tenant.account, sales, "+15550101010")
        other_inbox = InboxFactory(account=other_tenant.account)
        theirs = inbound(other_tenant.account, other_inbox, "+15550202020")
        response = tenant.client().post(
            api(tenant, f"/contacts/{mine.contact_id}/merge"), {"drop": theirs.contact_id}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["drop"][0].startswith("Invalid pk")
        assert Conversation.objects.get(pk=theirs.conversation_id).contact_id == theirs.contact_id

    def test_message_search_is_stemmed_and_ranked(self, tenant: Tenant, sales_and_billing: Any) -> None:
        sales, _ = sales_and_billing
        inbound(tenant.account, sales, "+15550303030", "I want refunds for both orders")
        inbound(tenant.account, sales, "+15550404040", "Where is my order?")
        results = tenant.client("agent").get(api(tenant, "/search"), {"q": "refund"}).json()
        assert [m["body"] for m in results["messages"]] == ["I want refunds for both orders"]
        assert tenant.client().get(api(tenant, "/search")).status_code == 400

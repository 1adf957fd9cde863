"""The rendered parts an event carries to the console (web/live.py): the list row and the message as the pages
render them, with the folders the row belongs to, so a browser swaps them in without fetching."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox import events
from inbox.models import Conversation, HandledBy, Status
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from web.live import render_for_browsers
from web.selectors import FOLDERS, folder_conversations, folders_of

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def test_folders_of_lists_a_conversation_where_the_folders_do(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    agent = tenant.agent_membership
    states: list[dict[str, Any]] = [
        {"status": Status.LIVE, "handled_by": HandledBy.HUMAN, "assignee": None},
        {"status": Status.LIVE, "handled_by": HandledBy.HUMAN, "assignee": tenant.agent},
        {"status": Status.LIVE, "handled_by": HandledBy.HUMAN, "assignee": tenant.admin},
        {"status": Status.ESCALATED, "handled_by": HandledBy.HUMAN, "assignee": None},
        {"status": Status.WAITING, "handled_by": HandledBy.HUMAN, "assignee": tenant.agent},
        {"status": Status.LIVE, "handled_by": HandledBy.AI, "assignee": None},
        {"status": Status.ESCALATED, "handled_by": HandledBy.AI, "assignee": None},
        {"status": Status.RESOLVED, "handled_by": HandledBy.HUMAN, "assignee": tenant.agent},
        {
            "status": Status.LIVE,
            "handled_by": HandledBy.HUMAN,
            "assignee": None,
            "snoozed_until": timezone.now() + timedelta(hours=2),
        },
        {
            "status": Status.LIVE,
            "handled_by": HandledBy.HUMAN,
            "assignee": tenant.agent,
            "snoozed_until": timezone.now() - timedelta(hours=2),
        },
        {
            "status": Status.RESOLVED,
            "handled_by": HandledBy.AI,
            "assignee": None,
            "snoozed_until": timezone.now() + timedelta(hours=2),
        },
    ]
    from inbox.models import InboxMember

    InboxMember.objects.create(account=tenant.account, inbox=inbox, user=tenant.agent)
    conversations = []
    for n, state in enumerate(states):
        message = inbound(tenant.account, inbox, f"+1555010{n:04d}", "hello")
        Conversation.objects.filter(pk=message.conversation_id).update(**state)
        conversations.append(Conversation.objects.get(pk=message.conversation_id))
    merged = inbound(tenant.account, inbox, "+15550109999", "merged").conversation
    Conversation.objects.filter(pk=merged.pk).update(merged_into=conversations[0])
    conversations.append(Conversation.objects.get(pk=merged.pk))

    for folder in FOLDERS:
        listed = set(
            folder_conversations(account=tenant.account, membership=agent, folder=folder.key).values_list(
                "id", flat=True
            )
        )
        for conversation in conversations:
            folders = folders_of(conversation)
            if folder.key == "mine":
                says = "open" in folders and conversation.assignee_id == tenant.agent.pk
            else:
                says = folder.key in folders
            assert says == (conversation.pk in listed), (folder.key, conversation.pk, folders)


def test_an_event_carries_the_row_and_the_message_as_the_pages_render_them(
    tenant: Tenant, client: Any, django_assert_num_queries: Any
) -> None:
    inbox = InboxFactory(account=tenant.account, name="Support")
    message = inbound(tenant.account, inbox, "+15550100001", f"the boiler {XSS}", name="Omar")
    conversation = message.conversation
    event = {"type": "message.created", "account_id": tenant.account.pk, "inbox_id": inbox.pk,
             "conversation_id": conversation.pk, "message": {"id": message.pk}}  # fmt: skip
    # the row: one query for it (contact, assignee, inbox and mood joined) and one for its labels; the message:
    # one for it and one for its attachments
    with django_assert_num_queries(4):
        extra = render_for_browsers("message.created", event)
    row, item = extra["row_html"], extra["message_html"]
    assert row.startswith(f'<li class="row" data-conversation-id="{conversation.pk}" data-in="all open unassigned"')
    assert XSS not in row and XSS not in item and "&lt;img src=x" in item
    assert item.startswith(f'<li id="message-{message.pk}"')

    # the same markup the pages serve (the list row, the thread's message), but for what depends on the viewer
    client.force_login(tenant.admin)
    listing = client.get(reverse("web:conversation-list", kwargs={"account_id": tenant.account.pk})).content.decode()
    served_row = listing[listing.index('<li class="row') :]
    served_row = served_row[: served_row.index("</li>") + 5]

    def normalise(html: str) -> str:
        return html.replace(' unread"', '"').replace("?folder=all&amp;", "?")

    assert (
        normalise(served_row)
        .split(">", 1)[1]
        .replace('<span class="dot" title="unread"><span class="sr-only">unread</span></span>', "")
        .split()
        == row.split(">", 1)[1].split()
    )
    thread = client.get(
        reverse("web:thread", kwargs={"account_id": tenant.account.pk, "conversation_id": conversation.pk})
    ).content.decode()
    assert " ".join(item.split()) in " ".join(thread.split())

    # conversation.updated carries the row only; message.updated the message only; other events nothing
    assert set(render_for_browsers("conversation.updated", {**event, "type": "conversation.updated"})) == {"row_html"}
    assert set(render_for_browsers("message.updated", event)) == {"message_html"}
    assert render_for_browsers("memory.updated", event) == {}
    # a conversation of another account renders nothing
    assert render_for_browsers("message.created", {**event, "account_id": tenant.account.pk + 1000}) == {
        "row_html": "",
        "message_html": "",
    }


def test_a_renderer_that_fails_never_loses_the_event(
    tenant: Tenant, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "_send", lambda account_id, inbox_id, event: sent.append(event))

    def broken(type: str, event: dict[str, Any], objects: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("template missing")

    monkeypatch.setattr(events, "renderers", [broken, *events.renderers])
    inbox = InboxFactory(account=tenant.account)
    with django_capture_on_commit_callbacks(execute=True):
        inbound(tenant.account, inbox, "+15550100002", "hello")
    created = [e for e in sent if e["type"] == "message.created"]
    assert created and created[0]["message"]["body"] == "hello"
    assert created[0]["message_html"]  # the console's own renderer still ran
    # the row is rendered once per commit: on the conversation.updated that follows the message
    assert created[0]["row_follows"] is True and "row_html" not in created[0]
    updated = [e for e in sent if e["type"] == "conversation.updated"]
    assert updated[-1]["row_html"].startswith('<li class="row')


def test_the_inbound_path_renders_from_what_it_wrote_as_a_fresh_read_would(
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    """receive_message passes the objects it wrote to the renderers: the row and the message rendered from them
    are the markup a fresh read renders, in every state the inbound path leaves (new conversation, next message
    with labels and a mood, files, handed to an agent online, the AI's), for two small reads (labels, mood)."""
    from accounts.models import Availability, Membership
    from inbox.attachments import IncomingFile
    from inbox.team import conversation_labels_set, label_create
    from memory.services import sentiment_record
    from web.live import render_message, render_row

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "_send", lambda account_id, inbox_id, event: sent.append(event))
    account = tenant.account
    support = InboxFactory(account=account, name="Support", auto_assign=False)
    sales = InboxFactory(account=account, name="Sales", auto_assign=True)
    from inbox.models import InboxMember

    InboxMember.objects.create(account=account, inbox=sales, user=tenant.agent)
    Membership.objects.filter(account=account, user=tenant.agent).update(availability=Availability.ONLINE)

    def arrive(inbox: Any, address: str, body: str, **kwargs: Any) -> tuple[int, list[str]]:
        sent.clear()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            message = inbound(account, inbox, address, body, name="Omar Haddad", **kwargs)
        with CaptureQueriesContext(connection) as render_queries:
            for callback in callbacks:
                callback()
        rendered = [e for e in sent if e["type"] in ("message.created", "conversation.updated")]
        for event in rendered:
            if "row_html" in event:
                assert event["row_html"] == render_row(account.pk, event["conversation"]["id"]), event["type"]
            if "message_html" in event:
                assert event["message_html"] == render_message(account.pk, event["message"]["id"]), event["type"]
        # (an assignment publishes its own activity line and row between the two)
        assert [rendered[0]["type"], rendered[-1]["type"]] == ["message.created", "conversation.updated"]
        assert rendered[0]["message"]["id"] == message.pk and rendered[0]["message_html"] and rendered[-1]["row_html"]
        # (the webhook listener's subscriptions, read once and then kept in the cache, are not the rendering's)
        sql = [q["sql"] for q in render_queries.captured_queries if "integrations_" not in q["sql"]]
        return message.conversation_id, sql

    conversation_id, sql = arrive(support, "+15550100011", "my boiler is broken")
    # the message from hand; the row: its labels and its mood (a conversation just opened has neither, still read:
    # a rule may have labelled it in the same transaction)
    assert len(sql) == 2 and "inbox_conversationlabel" in sql[0] and "memory_sentimentreading" in sql[1]

    conversation = Conversation.objects.get(pk=conversation_id)
    urgent = label_create(account=account, actor=tenant.admin, name="Urgent")
    conversation_labels_set(account=account, actor=tenant.admin, conversation=conversation, add=[urgent.pk])
    first = conversation.messages.order_by("id").first()
    sentiment_record(account=account, message=first, score=-0.8, engine="test")
    Conversation.objects.filter(pk=conversation_id).update(priority=3)
    arrive(support, "+15550100011", f"still broken {XSS}")
    row = sent[-1]["row_html"]
    assert "Urgent" in row and "mood-negative" in row and "priority-high" in row

    photo = IncomingFile.from_bytes("boiler.txt", b"x" * 10, "text/plain")
    arrive(support, "+15550100011", "photo attached", attachments=[photo])
    assert "boiler.txt" in sent[0]["message_html"]

    conversation_id, sql = arrive(sales, "+15550100012", "a quote please")
    assert Conversation.objects.get(pk=conversation_id).assignee_id == tenant.agent.pk
    assert tenant.agent.display_name in sent[-1]["row_html"]
    # the assignment publishes its activity line and a conversation.updated of its own; the conversation.updated
    # behind them carries the row as committed: one row per commit (it was rendered twice, 6 queries)
    assert [e["type"] for e in sent if "row_html" in e] == ["conversation.updated"]
    assert [e["type"] for e in sent if e.get("row_follows")] == [
        "message.created",
        "message.created",
        "conversation.updated",
    ]
    assert len(sql) == 4  # the activity line and its files (written by the assignment), the row's labels and mood
    # the assignee the routing chose is passed on, not read again
    assigned = Conversation.objects.select_related("contact").get(pk=conversation_id)
    objects = {"conversation": assigned, "contact": assigned.contact, "inbox": sales, "assignee": tenant.agent}
    with django_assert_num_queries(2):
        assert render_row(account.pk, conversation_id, objects) == sent[-1]["row_html"]

    from ai_agent.models import AgentSettings

    AgentSettings.objects.update_or_create(
        account=account, inbox=support, defaults={"enabled": True, "answer_mode": "always"}
    )
    conversation_id, _ = arrive(support, "+15550100013", "are you open on sunday?")
    assert Conversation.objects.get(pk=conversation_id).handled_by == HandledBy.AI
    assert "owner-ai" in sent[-1]["row_html"]


def test_a_picture_is_shown_with_its_name_so_a_tiny_one_never_looks_empty(tenant: Tenant) -> None:
    from inbox.attachments import IncomingFile
    from web.live import render_message

    pixel = bytes.fromhex(  # a 1x1 PNG: a tracking pixel, a blank screenshot
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2e3b2a50000000049454e44ae426082"
    )
    inbox = InboxFactory(account=tenant.account)
    picture = IncomingFile.from_bytes("pixel.png", pixel, "image/png")
    message = inbound(tenant.account, inbox, "+15550100013", "", attachments=[picture])
    html = render_message(tenant.account.pk, message.pk)
    assert 'class="attachment-image"' in html and 'alt=""' in html  # the caption names it, once
    assert '<span class="caption">pixel.png <span class="muted">(' in html

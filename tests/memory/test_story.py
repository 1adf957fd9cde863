"""Shared Memory, walked as the product's story: webchat after hours, the AI collects details, SMS the next
morning, a person takes over — and each inbox sees its own memory and nothing of the others'."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from contacts.services import contact_merge, contact_resolve
from inbox.models import Conversation
from inbox.services import conversation_take_over, inbox_member_add, receive_message, send_message
from memory.models import Fact, FactStatus
from memory.selectors import merge_suggestions, recall
from memory.services import (
    conversation_move,
    fact_definition_create,
    fact_record_ai,
    fact_reject,
    fact_set,
    handoff_record,
    note_write,
    sentiment_record,
)
from tests.conftest import RLS, Tenant
from tests.factories import InboxFactory, UserFactory

pytestmark = pytest.mark.django_db
ENGINE = "local/1"


@pytest.fixture
def teams(tenant: Tenant) -> dict[str, Any]:
    support = InboxFactory(account=tenant.account, name="Support")
    sales = InboxFactory(account=tenant.account, name="Sales")
    sam = UserFactory(name="Sam Sales")
    from accounts.models import Membership

    Membership.objects.create(account=tenant.account, user=sam, role="agent")
    inbox_member_add(account=tenant.account, actor=None, inbox=support, user=tenant.agent)
    inbox_member_add(account=tenant.account, actor=None, inbox=sales, user=sam)
    fact_definition_create(
        account=tenant.account,
        actor=tenant.admin,
        inbox=support,
        key="policy_number",
        label="Policy number",
        pattern=r"PN-\d{4,8}",
        required_before_handoff=True,
    )
    return {"support": support, "sales": sales, "sam": sam}


def _walk_the_story(tenant: Tenant, teams: dict[str, Any]) -> dict[str, Any]:
    account, support = tenant.account, teams["support"]
    evening = timezone.now() - timedelta(hours=14)
    visitor = contact_resolve(account=account, kind="webchat", raw_address="visitor-81f2")
    chat = receive_message(
        account=account,
        inbox=support,
        contact=visitor,
        channel="webchat",
        received_at=evening,
        body="Hi, my basement is flooding and nobody answers the phone!!",
    )
    sentiment_record(account=account, message=chat, score=-0.8, engine=ENGINE)
    conversation = chat.conversation
    send_message(
        account=account,
        conversation=conversation,
        body="I'm the after-hours assistant. What's your name, phone number and policy number?",
        sender_type="ai",
    )
    details = receive_message(
        account=account,
        inbox=support,
        contact=visitor,
        channel="webchat",
        received_at=evening + timedelta(minutes=3),
        body="Rosa Diaz, 312 555 0188, policy PN-55321",
    )
    sentiment_record(account=account, message=details, score=-0.3, engine=ENGINE)
    for key, value in (("name", "Rosa Diaz"), ("phone", "312 555 0188"), ("policy_number", "PN-55321")):
        fact_record_ai(
            account=account,
            contact=visitor,
            inbox=support,
            key=key,
            value=value,
            confidence=0.9,
            engine=ENGINE,
            conversation=conversation,
            source_message=details,
        )
    note_write(
        account=account,
        conversation=conversation,
        engine=ENGINE,
        need="Basement flooding; needs a plumber",
        status="Details collected after hours",
        next_step="Call Rosa first thing in the morning",
        source_message_ids=[chat.pk, details.pk],
    )

    # The next morning she texts from the number she gave. A number typed into a chat proves nothing, so the
    # text starts as another customer record; the team sees that the chat gave this number, looks, and merges:
    # one contact, and the two open conversations of Support become one (the chat's continues).
    texter = contact_resolve(account=account, kind="phone", raw_address="+13125550188")
    assert texter.pk != visitor.pk
    morning = receive_message(
        account=account, inbox=support, contact=texter, channel="sms", body="Any update? Water is still coming in"
    )
    sentiment_record(account=account, message=morning, score=-0.6, engine=ENGINE)
    [same] = merge_suggestions(account=account, contact=texter)
    assert same.contact.pk == visitor.pk and same.claimed_by_other and same.value == "+13125550188"
    rosa = contact_merge(account=account, actor=tenant.agent, keep=visitor, drop=texter)
    morning.refresh_from_db()
    handoff_record(
        account=account,
        conversation=conversation,
        reason="Urgent repair needs a person",
        from_party="AI agent",
        engine=ENGINE,
        to_user=tenant.agent,
        what_was_done={
            "questions_asked": ["name, phone, policy number"],
            "facts_collected": ["name", "phone", "policy_number"],
            "replies_sent": 1,
        },
        suggested_next_step="Call Rosa and book an emergency visit",
        suggested_channel="voice",
    )
    conversation_take_over(account=account, actor=tenant.agent, conversation=conversation)
    return {"visitor": visitor, "rosa": rosa, "conversation": conversation, "morning": morning}


def test_the_seed_story(tenant: Tenant, teams: dict[str, Any]) -> None:
    story = _walk_the_story(tenant, teams)
    assert story["rosa"].pk == story["visitor"].pk  # merged by a person after seeing the match
    assert story["morning"].conversation_id == story["conversation"].pk

    support = recall(account=tenant.account, contact=story["rosa"], inbox=teams["support"])
    assert [m.channel for m in support.history if m.kind == "message"] == ["webchat", "webchat", "webchat", "sms"]
    assert support.notes[story["conversation"].pk].need == "Basement flooding; needs a plumber"
    assert support.fact_values == {"name": "Rosa Diaz", "phone": "+13125550188", "policy_number": "PN-55321"}
    assert support.missing == []
    assert support.sentiment.readings == 3 and support.sentiment.label == "negative"
    assert support.sentiment.urgent  # mean -0.57: frustrated
    [handoff] = support.handoffs
    assert handoff.suggested_channel == "voice" and handoff.to_user == tenant.agent
    assert handoff.sentiment_label == "negative"

    sales = recall(account=tenant.account, contact=story["rosa"], inbox=teams["sales"])
    assert sales.history == [] and sales.notes == {} and sales.handoffs == [] and sales.conversations == []
    assert sales.fact_values == {"name": "Rosa Diaz", "phone": "+13125550188"}  # shared contact details only
    assert sales.sentiment.readings == 0


def test_the_story_through_the_api_with_the_inbox_wall(tenant: Tenant, teams: dict[str, Any]) -> None:
    from rest_framework.test import APIClient

    story = _walk_the_story(tenant, teams)
    base = f"/api/v1/accounts/{tenant.account.pk}"
    dana = tenant.client("agent")
    memory = dana.get(f"{base}/contacts/{story['rosa'].pk}/memory", {"inbox": teams["support"].pk})
    assert memory.status_code == 200, memory.json()
    body = memory.json()
    assert body["notes"][0]["author"] == {"type": "ai", "engine": ENGINE, "user": None, "label": f"AI ({ENGINE})"}
    policy = next(f for f in body["facts"] if f["key"] == "policy_number")
    assert policy["source_message"]["excerpt"] == "Rosa Diaz, 312 555 0188, policy PN-55321"
    assert body["handoffs"][0]["what_was_done"]["replies_sent"] == 1
    assert body["sentiment"]["urgent"] is True

    sam = APIClient()
    sam.force_login(teams["sam"])
    assert sam.get(f"{base}/contacts/{story['rosa'].pk}/memory", {"inbox": teams["support"].pk}).status_code == 404
    sales = sam.get(f"{base}/contacts/{story['rosa'].pk}/memory", {"inbox": teams["sales"].pk}).json()
    assert sales["notes"] == [] and sales["handoffs"] == [] and sales["history"] == []
    assert {f["key"] for f in sales["facts"]} == {"name", "phone"}
    conversation = story["conversation"].pk
    assert sam.get(f"{base}/conversations/{conversation}/notes").status_code == 404
    assert sam.get(f"{base}/conversations/{conversation}/handoffs").status_code == 404
    support_fact = Fact.objects.get(key="policy_number")
    assert sam.get(f"{base}/facts/{support_fact.pk}").status_code == 404
    assert sam.post(f"{base}/facts/{support_fact.pk}/reject").status_code == 404
    assert sam.get(f"{base}/contacts/{story['rosa'].pk}/facts", {"inbox": teams["support"].pk}).status_code == 404
    assert sam.get(f"{base}/contacts/{story['rosa'].pk}/sentiment", {"inbox": teams["support"].pk}).status_code == 404
    missing = dana.get(f"{base}/contacts/{story['rosa'].pk}/memory")
    assert missing.status_code == 400 and "inbox" in missing.json()["error"]["fields"]


def test_a_persons_correction_stands_against_the_ai(tenant: Tenant, teams: dict[str, Any]) -> None:
    story = _walk_the_story(tenant, teams)
    account, support, rosa = tenant.account, teams["support"], story["rosa"]
    corrected = fact_set(
        account=account, actor=tenant.agent, contact=rosa, inbox=support, key="policy_number", value="PN-55312"
    )
    later = receive_message(
        account=account, inbox=support, contact=rosa, channel="sms", body="my policy is PN-55321 as I said"
    )
    again = fact_record_ai(
        account=account,
        contact=rosa,
        inbox=support,
        key="policy_number",
        value="PN-55321",
        confidence=0.99,
        engine=ENGINE,
        source_message=later,
    )
    assert again is not None and again.pk == corrected.pk  # the person's value stands
    values = list(Fact.objects.filter(contact=rosa, key="policy_number").order_by("id").values_list("value", "status"))
    assert values == [("PN-55321", FactStatus.SUPERSEDED), ("PN-55312", FactStatus.ACTIVE)]
    history = recall(account=account, contact=rosa, inbox=support).fact_history
    assert [(f.value, f.superseded_by_id) for f in history] == [("PN-55321", corrected.pk)]


def test_a_rejected_value_is_not_brought_back(tenant: Tenant, teams: dict[str, Any]) -> None:
    story = _walk_the_story(tenant, teams)
    account, support, rosa = tenant.account, teams["support"], story["rosa"]
    name = Fact.objects.get(contact=rosa, key="name", status="active")
    fact_reject(account=account, actor=tenant.agent, fact=name)
    assert (
        fact_record_ai(
            account=account, contact=rosa, inbox=support, key="name", value="rosa diaz", confidence=0.9, engine=ENGINE
        )
        is None
    )
    assert "name" not in recall(account=account, contact=rosa, inbox=support).fact_values
    better = fact_record_ai(
        account=account, contact=rosa, inbox=support, key="name", value="Rosa María Díaz", confidence=0.9, engine=ENGINE
    )
    assert better is not None and better.value == "Rosa María Díaz"


def test_ai_ignores_unknown_keys_and_values_that_do_not_fit(tenant: Tenant, teams: dict[str, Any]) -> None:
    story = _walk_the_story(tenant, teams)
    args = {"account": tenant.account, "contact": story["rosa"], "confidence": 0.5, "engine": ENGINE}
    assert fact_record_ai(inbox=teams["support"], key="shoe_size", value="9", **args) is None
    assert fact_record_ai(inbox=teams["support"], key="policy_number", value="twelve", **args) is None
    assert Fact.objects.get(key="policy_number", status="active").value == "PN-55321"
    assert fact_record_ai(inbox=teams["sales"], key="policy_number", value="PN-0001", **args) is None  # not Sales'


def test_notes_keep_their_versions(tenant: Tenant, teams: dict[str, Any]) -> None:
    story = _walk_the_story(tenant, teams)
    conversation = story["conversation"]
    note_write(
        account=tenant.account,
        conversation=conversation,
        author_user=tenant.agent,
        need="Basement flooding",
        status="Visit booked 11:00",
        next_step="Confirm after the visit",
    )
    notes = list(conversation.ai_notes.order_by("version").values_list("version", "is_current", "author_type"))
    assert notes == [(1, False, "ai"), (2, True, "user")]
    api = tenant.client("agent").get(f"/api/v1/accounts/{tenant.account.pk}/conversations/{conversation.pk}/notes")
    assert [n["version"] for n in api.json()["results"]] == [2, 1]


def test_moving_a_conversation_carries_a_handoff_not_private_memory(tenant: Tenant, teams: dict[str, Any]) -> None:
    story = _walk_the_story(tenant, teams)
    handoff = conversation_move(
        account=tenant.account,
        actor=tenant.agent,
        conversation=story["conversation"],
        to_inbox=teams["sales"],
        reason="Wants a quote for a sump pump",
    )
    assert Conversation.objects.get(pk=story["conversation"].pk).status == "resolved"
    sales = recall(account=tenant.account, contact=story["rosa"], inbox=teams["sales"])
    assert [h.pk for h in sales.handoffs] == [handoff.pk]
    assert sales.handoffs[0].what_was_done["customer_said"][-1] == "Any update? Water is still coming in"
    assert sales.notes == {}
    assert "policy_number" not in sales.fact_values
    assert [c.pk for c in sales.conversations] == [handoff.to_conversation_id]
    assert next(m.body for m in sales.history).startswith(f"{tenant.agent.display_name} moved this customer here")


def test_recall_query_count_is_constant(tenant: Tenant, teams: dict[str, Any], django_assert_num_queries: Any) -> None:
    story = _walk_the_story(tenant, teams)
    args = {"account": tenant.account, "contact": story["rosa"], "inbox": teams["support"]}
    with django_assert_num_queries(1):
        recall(**args)
    url = f"/api/v1/accounts/{tenant.account.pk}/contacts/{story['rosa'].pk}/memory?inbox={teams['support'].pk}"
    client = tenant.client("agent")
    client.get(url)
    with django_assert_num_queries(5 + RLS):  # token, membership, contact, visible inbox, recall (1)
        assert client.get(url).status_code == 200
    for n in range(20):
        msg = receive_message(
            account=tenant.account, inbox=teams["support"], contact=story["rosa"], channel="sms", body=f"message {n}"
        )
        sentiment_record(account=tenant.account, message=msg, score=0.5, engine=ENGINE)
        fact_record_ai(
            account=tenant.account,
            contact=story["rosa"],
            inbox=teams["support"],
            key="policy_number",
            value=f"PN-{1000 + n}",
            confidence=0.5,
            engine=ENGINE,
        )
    with django_assert_num_queries(1):
        after = recall(**args)
    with django_assert_num_queries(5 + RLS):
        assert client.get(url).status_code == 200
    assert after.sentiment.mean == 0.5 and after.sentiment.direction == "steady" and not after.sentiment.urgent

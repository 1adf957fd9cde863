"""Routing on day one: a conversation is the AI's only while an AI agent answers; otherwise the team's, handed
round robin to the members who are online (each up to the inbox's capacity), or left in Unassigned until someone
comes online. Presence follows the console's sockets; snoozed conversations come back by themselves."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts import presence
from accounts.models import Membership, Role
from inbox.models import Conversation, Message, Notification
from inbox.routing import hand_out_backlog, unowned_sweep
from inbox.services import conversation_snooze, inbox_member_add, send_message, snoozes_wake
from tests.conftest import Tenant
from tests.factories import InboxFactory, MembershipFactory, ai_on, inbound, online

pytestmark = pytest.mark.django_db

NEVER_OPEN = {"mon": [["00:00", "00:01"]]}  # the team is (almost) never in
ALWAYS_OPEN: dict[str, list[list[str]]] = {}  # an empty schedule: always open


@pytest.fixture
def published(monkeypatch: Any) -> list[dict[str, Any]]:
    from inbox import events

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "_send", lambda account_id, inbox_id, event: seen.append(event))
    return seen


@pytest.fixture
def team(tenant: Tenant) -> dict[str, Any]:
    """Support with three agents: Ann, Ben (the tenant's agent) and Cy."""
    support = InboxFactory(account=tenant.account, name="Support")
    ann = MembershipFactory(account=tenant.account, role=Role.AGENT).user
    cy = MembershipFactory(account=tenant.account, role=Role.AGENT).user
    people = sorted([ann, tenant.agent, cy], key=lambda u: u.pk)
    for user in people:
        inbox_member_add(account=tenant.account, actor=None, inbox=support, user=user)
    return {"support": support, "people": people}


def _availability(tenant: Tenant, user: Any) -> str:
    return str(Membership.objects.get(account=tenant.account, user=user).availability)


@pytest.mark.parametrize(
    ("agent", "hours", "owner"),
    [
        (None, ALWAYS_OPEN, "human"),  # no AI agent: the team's, in Unassigned
        ({"enabled": False}, ALWAYS_OPEN, "human"),
        ({"answer_mode": "always"}, ALWAYS_OPEN, "ai"),
        ({"answer_mode": "after_hours"}, ALWAYS_OPEN, "human"),  # the team is in
        ({"answer_mode": "after_hours"}, NEVER_OPEN, "ai"),
        ({"answer_mode": "never"}, NEVER_OPEN, "human"),
    ],
)
def test_a_conversation_is_the_ais_only_while_an_ai_agent_answers(
    tenant: Tenant, agent: dict[str, Any] | None, hours: dict[str, Any], owner: str
) -> None:
    inbox = InboxFactory(account=tenant.account, business_hours=hours)
    if agent is not None:
        ai_on(tenant.account, inbox, **agent)
    conversation = inbound(tenant.account, inbox, "+13125550101", "hello").conversation
    assert (conversation.handled_by, conversation.assignee_id) == (owner, None)


def test_an_ai_conversation_goes_to_the_team_when_the_ai_stops_answering(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account, business_hours=NEVER_OPEN)
    ai_on(tenant.account, inbox, answer_mode="after_hours")
    first = inbound(tenant.account, inbox, "+13125550101", "written at night")
    assert first.conversation.handled_by == "ai"
    inbox.business_hours = ALWAYS_OPEN  # morning: the team is in
    inbox.save()
    second = inbound(tenant.account, inbox, "+13125550101", "still there?")
    conversation = Conversation.objects.get(pk=second.conversation_id)
    assert conversation.pk == first.conversation_id and conversation.handled_by == "human"
    assert Message.objects.filter(
        conversation=conversation, kind="activity", body__startswith="The AI agent is not answering now"
    ).exists()


def test_new_work_goes_round_robin_to_online_members_within_capacity(
    tenant: Tenant, team: dict[str, Any], published: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    support, (first, _offline, third) = team["support"], team["people"]
    support.assign_capacity = 2
    support.save()
    online(tenant.account, first, third)  # the second is offline
    with django_capture_on_commit_callbacks(execute=True):
        owners = [inbound(tenant.account, support, f"+1312555{n:04d}", "hi").conversation.assignee_id for n in range(5)]
    # alternating between the two online people, two each, then nobody has room: Unassigned
    assert owners == [first.pk, third.pk, first.pk, third.pk, None]
    assigned = Message.objects.filter(kind="activity", body=f"System assigned this to {first.display_name}")
    assert assigned.count() == 2
    notes = Notification.objects.filter(user=third, kind="assignment").order_by("id")
    assert notes.count() == 2 and notes[0].text.endswith("was assigned to you.")


def test_busy_and_offline_people_get_no_new_work(tenant: Tenant, team: dict[str, Any]) -> None:
    support, people = team["support"], team["people"]
    online(tenant.account, *people)
    Membership.objects.filter(account=tenant.account, user=people[0]).update(availability="busy")
    Membership.objects.filter(account=tenant.account, user=people[1]).update(availability="offline")
    owners = {inbound(tenant.account, support, f"+1312555{n:04d}", "hi").conversation.assignee_id for n in range(3)}
    assert owners == {people[2].pk}


def test_an_inbox_that_does_not_hand_out_work_leaves_it_unassigned(tenant: Tenant, team: dict[str, Any]) -> None:
    support = team["support"]
    support.auto_assign = False
    support.save()
    online(tenant.account, *team["people"])
    assert inbound(tenant.account, support, "+13125550101", "hi").conversation.assignee_id is None


def test_the_backlog_is_handed_out_when_someone_comes_online(tenant: Tenant, team: dict[str, Any]) -> None:
    support, people = team["support"], team["people"]
    waiting = [inbound(tenant.account, support, f"+1312555{n:04d}", "hi").conversation for n in range(3)]
    snoozed = inbound(tenant.account, support, "+13125559999", "next week").conversation
    conversation_snooze(
        account=tenant.account, actor=None, conversation=snoozed, until=timezone.now() + timedelta(days=3)
    )
    assert all(c.assignee_id is None for c in waiting)
    online(tenant.account, people[1])
    assert hand_out_backlog(tenant.account, people[1].pk) == 3
    assert set(Conversation.objects.filter(pk__in=[c.pk for c in waiting]).values_list("assignee_id", flat=True)) == {
        people[1].pk
    }
    snoozed.refresh_from_db()
    assert snoozed.assignee_id is None  # a snoozed conversation waits for its time
    assert unowned_sweep() == 0  # nothing left that someone online could take


def test_replying_to_an_unowned_conversation_takes_it(tenant: Tenant, team: dict[str, Any]) -> None:
    conversation = inbound(tenant.account, team["support"], "+13125550101", "hi").conversation
    send_message(account=tenant.account, conversation=conversation, body="On it", sender_user=tenant.agent)
    conversation.refresh_from_db()
    assert (conversation.handled_by, conversation.assignee_id) == ("human", tenant.agent.pk)
    send_message(
        account=tenant.account, conversation=conversation, body="private", kind="note", sender_user=tenant.admin
    )
    conversation.refresh_from_db()
    assert conversation.assignee_id == tenant.agent.pk  # a note by someone else does not take it


def test_presence_follows_the_consoles_sockets_and_the_persons_choice(tenant: Tenant, team: dict[str, Any]) -> None:
    account_id, user = tenant.account.pk, tenant.agent
    assert _availability(tenant, user) == "offline"
    assert presence.socket_joined(account_id, user.pk, "tab-1") == "online"
    assert presence.socket_joined(account_id, user.pk, "tab-2") == "online"
    assert presence.socket_left(account_id, user.pk, "tab-1") == "online"  # another tab is still open
    membership = Membership.objects.get(account=tenant.account, user=user)
    assert presence.busy_set(membership, True) == "busy"
    assert presence.busy_set(membership, False) == "online"
    assert presence.socket_left(account_id, user.pk, "tab-2") == "offline"
    # a process that died without closing its socket: the entry ages out and beat turns the person offline
    presence.socket_joined(account_id, user.pk, "tab-3")
    presence._redis().hset(presence._key(account_id, user.pk), "tab-3", time.time() - presence.PRESENCE_TTL - 1)
    assert presence.presence_sweep() == 1 and _availability(tenant, user) == "offline"


def test_coming_online_queues_the_backlog(
    tenant: Tenant, team: dict[str, Any], monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from inbox import tasks

    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.hand_out_backlog_task, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        presence.socket_joined(tenant.account.pk, tenant.agent.pk, "tab-1")
        presence.socket_joined(tenant.account.pk, tenant.agent.pk, "tab-2")  # already online: nothing more
    assert queued == [(tenant.account.pk, tenant.agent.pk)]
    presence.socket_left(tenant.account.pk, tenant.agent.pk, "tab-1")
    presence.socket_left(tenant.account.pk, tenant.agent.pk, "tab-2")


def test_snoozed_conversations_leave_the_folders_and_wake_by_themselves(
    tenant: Tenant, team: dict[str, Any], published: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    support = team["support"]
    online(tenant.account, tenant.agent)
    conversation = inbound(tenant.account, support, "+13125550101", "call me next week").conversation
    assert conversation.assignee_id == tenant.agent.pk
    until = timezone.now() + timedelta(hours=2)
    conversation_snooze(account=tenant.account, actor=tenant.agent, conversation=conversation, until=until)
    assert snoozes_wake() == 0  # not yet
    with django_capture_on_commit_callbacks(execute=True):
        assert snoozes_wake(now=until + timedelta(seconds=1)) == 1
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
    assert Message.objects.filter(conversation=conversation, body="Snooze ended: back in the folders").exists()
    woke = Notification.objects.get(kind="snooze")
    assert woke.user_id == tenant.agent.pk and "woke from its snooze" in woke.text


def test_a_customer_reply_wakes_a_snoozed_conversation_at_once(tenant: Tenant, team: dict[str, Any]) -> None:
    conversation = inbound(tenant.account, team["support"], "+13125550101", "hi").conversation
    later = timezone.now() + timedelta(days=1)
    conversation_snooze(account=tenant.account, actor=tenant.agent, conversation=conversation, until=later)
    inbound(tenant.account, team["support"], "+13125550101", "actually, today please")
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None


def test_availability_and_routing_settings_through_the_api(tenant: Tenant, team: dict[str, Any]) -> None:
    url = f"/api/v1/accounts/{tenant.account.pk}"
    busy = tenant.client("agent").post(f"{url}/members/me/availability", {"busy": True}, format="json")
    assert busy.status_code == 200 and busy.json()["busy"] is True
    assert busy.json()["user"]["id"] == tenant.agent.pk
    wrong = tenant.client("agent").post(f"{url}/members/me/availability", {"busy": "maybe"}, format="json")
    assert wrong.status_code == 400 and "busy" in wrong.json()["error"]["fields"]
    support = team["support"]
    changed = tenant.client().patch(
        f"{url}/inboxes/{support.pk}", {"auto_assign": False, "assign_capacity": 5}, format="json"
    )
    assert changed.status_code == 200 and (changed.json()["auto_assign"], changed.json()["assign_capacity"]) == (
        False,
        5,
    )


def test_a_failed_reply_is_resent_and_says_who_resent_it(tenant: Tenant, team: dict[str, Any]) -> None:
    from inbox.services import message_set_delivery

    conversation = inbound(tenant.account, team["support"], "+13125550101", "hi").conversation
    reply = send_message(account=tenant.account, conversation=conversation, body="On it", sender_user=tenant.agent)
    url = f"/api/v1/accounts/{tenant.account.pk}/conversations/{conversation.pk}/messages/{reply.pk}/resend"
    early = tenant.client("agent").post(url)
    assert early.status_code == 409 and "only a failed one is resent" in early.json()["error"]["message"]
    message_set_delivery(account=tenant.account, message=reply, status="failed", error_code="30003",
                         error_message="Unreachable destination handset")  # fmt: skip
    again = tenant.client("agent").post(url)
    assert again.status_code == 200, again.json()
    assert again.json()["delivery_status"] == "queued" and again.json()["id"] == reply.pk
    reply.refresh_from_db()
    assert (reply.error_code, reply.metadata["resent"]) == ("", 1) and "send_attempt" not in reply.metadata
    assert Message.objects.filter(conversation=conversation, body__endswith="resent a reply that had failed").exists()
    other = InboxFactory(account=tenant.account, name="Elsewhere")
    hidden = inbound(tenant.account, other, "+13125550199", "not yours").conversation
    mixed = f"/api/v1/accounts/{tenant.account.pk}/conversations/{hidden.pk}/messages/{reply.pk}/resend"
    assert tenant.client().post(mixed).status_code == 404  # the message is not in that conversation


def test_a_number_routes_to_one_endpoint_across_accounts(tenant: Tenant, other_tenant: Tenant) -> None:
    body = {"kind": "sms", "address": "+1 312 555 0100", "credentials": {"account_sid": "AC" + "a" * 32,
            "auth_token": "t" * 32}}  # fmt: skip
    mine = InboxFactory(account=tenant.account, name="Support")
    second = InboxFactory(account=tenant.account, name="Sales")
    theirs = InboxFactory(account=other_tenant.account, name="Theirs")
    url = "/api/v1/accounts/{}/channel-endpoints"
    first = tenant.client().post(url.format(tenant.account.pk), {**body, "inbox": mine.pk}, format="json")
    assert first.status_code == 201, first.json()
    again = tenant.client().post(url.format(tenant.account.pk), {**body, "inbox": second.pk}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["fields"]["address"] == ["+13125550100 is already connected to the inbox Support."]
    elsewhere = other_tenant.client().post(url.format(other_tenant.account.pk), {**body, "inbox": theirs.pk},
                                           format="json")  # fmt: skip
    assert elsewhere.status_code == 409 and "already connected elsewhere" in elsewhere.json()["error"]["message"]
    assert "Support" not in elsewhere.json()["error"]["message"]  # nothing about the other account leaks


def test_saved_views_are_a_persons_own(tenant: Tenant, team: dict[str, Any]) -> None:
    from inbox.models import Label

    vip = Label.objects.create(account=tenant.account, name="VIP")
    url = f"/api/v1/accounts/{tenant.account.pk}/saved-views"
    body = {"name": "My VIPs", "query": {"folder": "mine", "inbox": team["support"].pk, "label": vip.pk}}
    made = tenant.client("agent").post(url, body, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["query"] == {"folder": "mine", "inbox": team["support"].pk, "label": vip.pk}
    again = tenant.client("agent").post(url, body, format="json")
    assert again.status_code == 409 and again.json()["error"]["fields"]["name"]
    wrong = tenant.client("agent").post(url, {"name": "x", "query": {"folder": "everything"}}, format="json")
    assert wrong.status_code == 400 and "folder is one of" in wrong.json()["error"]["fields"]["query"][0]
    hidden = InboxFactory(account=tenant.account, name="Not mine")
    other = tenant.client("agent").post(url, {"name": "y", "query": {"inbox": hidden.pk}}, format="json")
    assert other.status_code == 400  # an inbox the agent does not see
    assert tenant.client("admin").get(url).json() == []  # nobody sees another person's views
    assert [v["name"] for v in tenant.client("agent").get(url).json()] == ["My VIPs"]

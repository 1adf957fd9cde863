"""Routing as a team uses it, in Chromium: two agents with their consoles open are online and receive new work
round robin in their "Mine" folder live; one sets herself busy and gets nothing new; a snoozed conversation leaves
the folder and comes back by itself when its time comes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from inbox.models import Conversation
from inbox.services import inbox_member_add, snoozes_wake
from tests.browser.conftest import sign_in, wait_live
from tests.conftest import make_tenant, wait_until
from tests.factories import InboxFactory, MembershipFactory, inbound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _availability(user: Any) -> str:
    return str(Membership.objects.get(user=user).availability)


def test_new_work_goes_to_whoever_is_online_and_snoozed_work_comes_back(asgi_server: str, browser: Any) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    ann = tenant.agent
    bo: Any = MembershipFactory(account=tenant.account, role=Role.AGENT).user
    for user in (ann, bo):
        inbox_member_add(account=tenant.account, actor=None, inbox=support, user=user)
    first, second = sorted([ann, bo], key=lambda u: int(u.pk))

    # nobody at a console yet: a message waits in Unassigned
    waiting = inbound(tenant.account, support, "+13125550101", "Anyone there?").conversation
    assert waiting.assignee_id is None

    pages: dict[int, Any] = {}
    for user in (first, second):
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(20_000)
        sign_in(page, asgi_server, user.email)
        page.goto(f"{asgi_server}/a/{tenant.account.pk}/?folder=mine")
        wait_live(page)
        pages[user.pk] = page
    wait_until(lambda: _availability(first) == "online" and _availability(second) == "online", what="presence")
    # coming online handed out the backlog (the worker-less test runs the hand-out itself, as the task would)
    from inbox.routing import hand_out_backlog

    hand_out_backlog(tenant.account, first.pk)
    pages[first.pk].locator("#conversation-list", has_text="Anyone there?").wait_for()

    # new work alternates between the two, and appears live in each one's Mine folder
    inbound(tenant.account, support, "+13125550102", "Boiler question")
    pages[second.pk].locator("#conversation-list", has_text="Boiler question").wait_for()
    inbound(tenant.account, support, "+13125550103", "Invoice copy please")
    pages[first.pk].locator("#conversation-list", has_text="Invoice copy please").wait_for()

    # the first sets herself busy: the next one goes to the second although it is the first's turn
    busy_page = pages[first.pk]
    busy_page.get_by_role("button", name="Available: set yourself busy").click()
    busy_page.get_by_role("button", name="Busy: set yourself available").wait_for()
    # the toggle reloads the page: its socket closes and reopens, and the person is busy again once it is back
    wait_live(busy_page)
    wait_until(lambda: _availability(first) == "busy", what="the busy state after the reload")
    inbound(tenant.account, support, "+13125550104", "Radiator noise")
    pages[second.pk].locator("#conversation-list", has_text="Radiator noise").wait_for()
    assert Conversation.objects.get(last_message_preview="Radiator noise").assignee_id == second.pk

    # the second snoozes one for an hour: it leaves Mine, and comes back by itself when the hour is over
    page = pages[second.pk]
    page.locator("#conversation-list a", has_text="Boiler question").click()
    page.locator(".more-actions > summary").click()  # the less common actions sit under More
    page.get_by_label("Snooze until").select_option(label="1 hour")
    page.get_by_role("button", name="Snooze", exact=True).click()
    page.locator("#conversation-list", has_text="Boiler question").wait_for(state="detached")
    snoozes_wake(now=timezone.now() + timedelta(hours=1, minutes=1))  # what beat does when the hour is over
    page.locator("#conversation-list", has_text="Boiler question").wait_for()
    page.locator(".activity-line", has_text="Snooze ended").wait_for()

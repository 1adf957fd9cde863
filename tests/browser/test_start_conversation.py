"""An agent writes first: New conversation in the console, an SMS to a number typed in any format, sent through
the real delivery path (a worker and the channel sandbox's carrier), shown in its new conversation as delivered,
and received on the customer's side."""

from __future__ import annotations

import re
from typing import Any

import pytest

from channels_app.models import SandboxMessage
from channels_app.sandbox import sandbox_enable
from inbox.models import InboxMember
from tests.browser.conftest import sign_in
from tests.conftest import make_tenant, wait_until
from tests.factories import InboxFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.integration
def test_an_agent_writes_first_by_sms_and_the_customer_receives_it(
    celery_worker_process: Any, asgi_server: str, browser: Any
) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=support)

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    sign_in(page, asgi_server, tenant.agent.email)
    page.get_by_role("link", name="New conversation").click()
    page.get_by_role("heading", name="New conversation").wait_for()
    page.get_by_label("From the inbox").select_option(label="Support")
    page.get_by_label("By", exact=True).select_option("sms")
    page.get_by_label("To (a phone number").fill("(312) 555-0142")
    page.get_by_label("Message").fill("Your boiler part arrived: shall we come on Friday?")
    page.get_by_role("button", name="Send").click()

    page.wait_for_url(re.compile(r"/conversations/\d+/$"))
    reply = page.locator("#thread .msg.dir-out", has_text="Your boiler part arrived")
    reply.wait_for()
    page.locator("#thread", has_text="started this conversation by SMS").wait_for()
    reply.locator(".delivery", has_text="Delivered").wait_for()  # the worker, the carrier, the signed callback
    received = wait_until(
        lambda: SandboxMessage.objects.filter(direction="out", customer="+13125550142").first(),
        what="the customer's side to receive it",
    )
    assert received.body == "Your boiler part arrived: shall we come on Friday?"

    # a wrong number is refused next to the field, nothing is sent
    page.get_by_role("link", name="New conversation").click()
    page.get_by_label("To (a phone number").fill("call me maybe")
    page.get_by_label("Message").fill("Hello")
    page.get_by_role("button", name="Send").click()
    page.locator(".field-error").first.wait_for()
    assert SandboxMessage.objects.filter(direction="out").count() == 1

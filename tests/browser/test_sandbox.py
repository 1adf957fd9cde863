"""The channel sandbox as a new team tries it: an admin sets it up, plays one customer on SMS, WhatsApp, a phone
call and email (each signed like the provider's webhook and processed by a real worker), while an agent answers
in another browser; the replies arrive on the customer's side of the simulator, delivered by the simulated
carrier; every message lands in one conversation of one contact."""

from __future__ import annotations

from typing import Any

import pytest

from channels_app.models import SandboxMessage
from inbox.models import Conversation, InboxMember, Message
from tests.browser.conftest import sign_in, wait_live
from tests.conftest import make_tenant, wait_until
from tests.factories import InboxFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.integration
def test_one_customer_on_four_channels_through_the_sandbox(
    celery_worker_process: Any, asgi_server: str, browser: Any
) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support", auto_assign=False)
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    customer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    customer.set_default_timeout(20_000)
    sign_in(customer, asgi_server, tenant.admin.email)
    customer.goto(f"{asgi_server}/a/{tenant.account.pk}/settings/")
    customer.get_by_role("link", name="Channel sandbox").click()
    customer.get_by_role("button", name="Set up the sandbox").click()
    customer.get_by_label("Text message (SMS)").wait_for()

    agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    agent.set_default_timeout(20_000)
    sign_in(agent, asgi_server, tenant.agent.email)
    agent.goto(f"{asgi_server}/a/{tenant.account.pk}/?folder=all")
    wait_live(agent)

    # SMS in, through Twilio's signed webhook and the worker; the agent sees it live and answers on SMS
    customer.get_by_label("Text message (SMS)").fill("My kitchen sink is leaking")
    customer.get_by_role("button", name="Send text").click()
    agent.locator("#conversation-list a", has_text="My kitchen sink is leaking").click()
    composer = agent.get_by_role("textbox", name="Message")
    composer.fill("A plumber can come at 11:00 today.")
    composer.press("Control+Enter")
    # the simulated carrier receives it through the real Twilio SDK and reports it delivered (signed status webhook)
    customer.locator(
        "#sandbox-transcript .msg[data-direction='out']", has_text="A plumber can come at 11:00"
    ).wait_for()
    wait_until(
        lambda: Message.objects.filter(body="A plumber can come at 11:00 today.", delivery_status="delivered").exists(),
        timeout=20,
        what="the delivered status from the sandbox carrier",
    )

    # WhatsApp and a phone call from the same number join the same conversation
    customer.get_by_label("WhatsApp message").fill("Sending a photo of the pipe")
    customer.get_by_role("button", name="Send WhatsApp").click()
    agent.locator("#thread", has_text="Sending a photo of the pipe").wait_for()
    customer.get_by_label("and say").fill("Please call me back when the plumber is on the way")
    customer.get_by_role("button", name="Call", exact=True).click()
    agent.locator("#thread", has_text="Please call me back when the plumber is on the way").wait_for()

    # the agent adds her email address on the contact page; her email threads into the same conversation
    conversation = Conversation.objects.get(account=tenant.account)
    agent.goto(f"{asgi_server}/a/{tenant.account.pk}/contacts/{conversation.contact_id}/")
    agent.get_by_label("Add").select_option(label="Email")
    agent.get_by_label("Value").fill("maria@example.com")
    agent.get_by_role("button", name="Add identity").click()
    agent.get_by_text("maria@example.com").wait_for()
    customer.get_by_label("Email text").fill("Thanks, see you at 11")
    customer.get_by_role("button", name="Send email").click()
    wait_until(
        lambda: Message.objects.filter(channel="email", direction="in", conversation=conversation).exists(),
        timeout=20,
        what="the email in Maria's conversation",
    )
    channels = set(conversation.messages.filter(direction="in").values_list("channel", flat=True))
    assert channels == {"sms", "whatsapp", "voice", "email"}
    assert Conversation.objects.filter(account=tenant.account).count() == 1
    # nothing left the machine: every outbound message is in the simulator's carrier
    assert (
        SandboxMessage.objects.filter(direction="out", channel="sms", body="A plumber can come at 11:00 today.").count()
        == 1
    )

"""An agent picks a WhatsApp template when the customer's 24-hour window has closed: the composer says why, offers
the inbox's approved templates with their variables filled from memory, and the template goes out through the real
delivery path (a worker and the sandbox carrier, which fills it as Twilio does) and is shown delivered."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from channels_app.models import MessageTemplate, SandboxMessage
from channels_app.sandbox import sandbox_enable
from inbox.models import InboxMember, Message
from tests.browser.conftest import sign_in
from tests.conftest import make_tenant, wait_until
from tests.factories import InboxFactory, inbound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.integration
def test_an_agent_sends_a_template_after_the_window_closed(
    celery_worker_process: Any, asgi_server: str, browser: Any
) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    endpoints = sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=support)
    assert MessageTemplate.objects.filter(endpoint=endpoints["whatsapp"], status="approved").count() == 2
    first = inbound(tenant.account, support, "+13125550142", "Is the part in?", kind="whatsapp", channel="whatsapp")
    Message.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=2))
    first.contact.name = "Maria Lopez"
    first.contact.save(update_fields=["name"])

    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(20_000)
    sign_in(page, asgi_server, tenant.agent.email)
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/conversations/{first.conversation_id}/")
    templates = page.locator("#wa-templates")
    templates.get_by_text("WhatsApp's 24-hour window closed").wait_for()
    assert "window closed" in page.get_by_label("Send on").locator("option[value=whatsapp]").inner_text()

    picked = templates.locator("details.wa-template", has_text="follow_up")
    if not picked.evaluate("el => el.open"):  # the first template is open already
        picked.locator("summary").click()
    first_name = picked.get_by_label("{{1}}")
    assert first_name.input_value() == "Maria"  # from memory: the contact's first name
    assert picked.get_by_label("{{2}}").input_value() == "Acme"  # the business's name
    first_name.fill("Maria José")
    picked.get_by_role("button", name="Send template").click()

    sent = page.locator("#thread .msg.dir-out", has_text="Hi Maria José, this is Acme following up")
    sent.wait_for()
    sent.locator(".delivery", has_text="Delivered").wait_for()  # the worker, the carrier, the signed callback
    received = wait_until(
        lambda: SandboxMessage.objects.filter(direction="out", channel="whatsapp").first(),
        what="the customer's side to receive it",
    )
    assert received.body == "Hi Maria José, this is Acme following up on your question. Can we help?"

    # a value left empty is refused beside its field, nothing sent
    picked.get_by_label("{{1}}").fill("")
    picked.get_by_role("button", name="Send template").click()
    picked.get_by_label("{{1}}").evaluate("el => el.reportValidity()")
    assert SandboxMessage.objects.filter(direction="out").count() == 1


@pytest.mark.integration
def test_an_agent_writes_first_on_whatsapp_with_a_template(
    celery_worker_process: Any, asgi_server: str, browser: Any
) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    sandbox_enable(account=tenant.account, actor=tenant.admin, inbox=support)

    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(20_000)
    sign_in(page, asgi_server, tenant.agent.email)
    page.get_by_role("link", name="New conversation").click()
    page.get_by_role("heading", name="New conversation").wait_for()
    picked = page.locator("details.wa-template", has_text="order_ready")
    picked.locator("summary").click()
    picked.get_by_label("To (the customer's WhatsApp number)").fill("(312) 555-0188")
    picked.get_by_label("{{1}}").fill("Sam")  # nobody known yet: the agent types it
    picked.get_by_label("{{2}}").fill("1042")
    picked.get_by_role("button", name="Send template").click()

    page.wait_for_url(re.compile(r"/conversations/\d+/$"))
    sent = page.locator("#thread .msg.dir-out", has_text="Hi Sam, your order 1042 is ready")
    sent.wait_for()
    sent.locator(".delivery", has_text="Delivered").wait_for()
    received = wait_until(
        lambda: SandboxMessage.objects.filter(direction="out", channel="whatsapp", customer="+13125550188").first(),
        what="the customer's side to receive it",
    )
    assert received.body == "Hi Sam, your order 1042 is ready. Reply here with any question."

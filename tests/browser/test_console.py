"""The console in Chromium against the real ASGI app: live updates over websockets, actions through the API,
the memory panel, admin settings, and what an agent may not see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from channels_app.adapters.twilio import webhook_url
from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from inbox.models import InboxMember, Message
from inbox.services import conversation_hand_to_human
from memory.services import fact_record_ai, handoff_record
from tests.browser.conftest import sign_in, wait_live
from tests.conftest import Tenant, make_tenant, wait_until
from tests.factories import InboxFactory, ai_on, inbound
from tests.fakes.twilio_server import FakeTwilio

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SID, TOKEN = "AC" + "b" * 32, "browser-test-auth-token"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def fake_twilio(settings: Any, monkeypatch: Any) -> Iterator[FakeTwilio]:
    """A fake Twilio for this process and for the Celery worker started after it."""
    with FakeTwilio(SID, TOKEN) as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        monkeypatch.setenv("TWILIO_API_BASE_URL", fake.url)
        yield fake


def post_signed(endpoint: ChannelEndpoint, kind: str, payload: dict[str, str]) -> None:
    from django.conf import settings

    url = webhook_url(endpoint, kind)
    signature = RequestValidator(TOKEN).compute_signature(url, payload)
    response = Client().post(url.removeprefix(settings.PUBLIC_BASE_URL), payload, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200


def sms(body: str, sid: str, sender: str = "+13125550177") -> dict[str, str]:
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": "+13125550100",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


@pytest.mark.integration
def test_sms_appears_live_reply_is_delivered_and_status_updates(
    fake_twilio: FakeTwilio, celery_worker_process: Any, asgi_server: str, browser: Any
) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    endpoint = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=support,
        kind="sms",
        address="+13125550100",
        credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
    )
    agent_page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    other_page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    for page in (agent_page, other_page):
        page.set_default_timeout(20_000)
        sign_in(page, asgi_server, tenant.agent.email if page is agent_page else tenant.admin.email)
        wait_live(page)
    assert agent_page.get_by_text("No conversations yet").is_visible()

    post_signed(endpoint, "messaging", sms("My boiler is leaking, can someone come today?", "SM" + "1" * 32))
    for page in (agent_page, other_page):  # every open console, without a reload
        page.get_by_text("My boiler is leaking").wait_for()

    agent_page.get_by_text("My boiler is leaking").click()
    composer = agent_page.get_by_role("textbox", name="Message")
    composer.fill("We can be there at 3pm today.")
    composer.press("Control+Enter")
    reply = agent_page.locator(".msg.dir-out", has_text="We can be there at 3pm today.")
    reply.wait_for()
    reply.locator(".delivery", has_text="Queued").wait_for()
    sent = wait_until(lambda: fake_twilio.sent, what="the worker to send the reply through the twilio client")
    assert sent[0]["Body"] == "We can be there at 3pm today." and sent[0]["To"] == "+13125550177"

    for twilio_status, shown in (("sent", "Sent"), ("delivered", "Delivered")):
        callback = {"MessageSid": sent[0]["sid"], "MessageStatus": twilio_status, "AccountSid": SID}
        post_signed(endpoint, "status", {**callback, "To": "+13125550177", "From": "+13125550100"})
        reply.locator(".delivery", has_text=shown).wait_for()  # live, through the worker and the websocket
    # the other console sees the reply in the list preview too
    other_page.locator("#conversation-list", has_text="We can be there at 3pm").wait_for()


def _console_watching_fetches(browser: Any, asgi_server: str, tenant: Tenant) -> tuple[Any, list[str]]:
    """The agent's console, live, and the URLs it fetches from now on."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(20_000)
    sign_in(page, asgi_server, tenant.agent.email)
    wait_live(page)
    page.wait_for_timeout(300)  # the hello's catch-up fetches land first
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    return page, fetched


def test_messages_are_swapped_in_without_fetching_the_list_or_the_thread(asgi_server: str, browser: Any) -> None:
    """An event carries its row and its message rendered (web/live.py): the console puts them in place (the row to
    the top, unread unless open here; the message at the end of the open thread) and fetches neither."""
    from django.urls import reverse

    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    first = inbound(tenant.account, support, "+13125550101", "First customer here", name="Ana Older").conversation
    inbound(tenant.account, support, "+13125550102", "Second customer here", name="Ben Newer")
    account = tenant.account.pk
    list_path = reverse("web:conversation-list", kwargs={"account_id": account})
    thread_path = reverse("web:thread", kwargs={"account_id": account, "conversation_id": first.pk})

    page, fetched = _console_watching_fetches(browser, asgi_server, tenant)
    rows = page.locator("#conversation-list li.row")
    assert rows.first.locator(".contact-name").inner_text() == "Ben Newer"

    inbound(tenant.account, support, "+13125550101", f"Ana again: any news? {XSS}")
    rows.first.locator(".preview", has_text="Ana again: any news?").wait_for()
    assert rows.count() == 2 and "unread" in (rows.first.get_attribute("class") or "")
    assert XSS in rows.first.locator(".preview").inner_text()  # shown as text, never as markup
    assert page.locator("#conversation-list img").count() == 0
    inbound(tenant.account, support, "+13125550103", "A third customer", name="Cy New")
    rows.first.locator(".contact-name", has_text="Cy New").wait_for()  # a new conversation goes on top
    assert rows.count() == 3
    assert not [url for url in fetched if list_path in url], fetched

    rows.filter(has_text="Ana Older").locator("a").click()
    page.locator("#thread", has_text="Ana again").wait_for()
    wait_live(page)
    page.wait_for_timeout(300)
    fetched.clear()
    inbound(tenant.account, support, "+13125550101", "Ana a third time")
    page.locator("#thread .msg", has_text="Ana a third time").wait_for()
    open_row = rows.filter(has_text="Ana Older")
    open_row.locator(".preview", has_text="Ana a third time").wait_for()
    assert "active" in (open_row.get_attribute("class") or "")
    assert "unread" not in (open_row.get_attribute("class") or "")  # it is open on this page
    assert page.locator("#thread .msg").last.inner_text().count("Ana a third time") == 1
    assert not [url for url in fetched if list_path in url or thread_path in url], fetched


def test_rows_that_arrive_while_the_list_is_fetched_are_put_in_place_without_fetching_again(
    asgi_server: str, browser: Any
) -> None:
    """An event that makes the page fetch the list (a fact may rename a contact), then messages while that fetch
    is pending: their rows are placed once it lands. Fetching again for each kept a busy inbox's list fetching."""
    from django.urls import reverse

    from inbox import events

    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    first = inbound(tenant.account, support, "+13125550101", "First customer here", name="Ana Older")
    list_path = reverse("web:conversation-list", kwargs={"account_id": tenant.account.pk})

    page, fetched = _console_watching_fetches(browser, asgi_server, tenant)
    events.publish(tenant.account.pk, support.pk, "memory.updated", {"kind": "fact", "contact_id": first.contact_id})
    for n in range(3):  # within the fetch's 400 ms wait
        inbound(tenant.account, support, f"+1312555020{n}", f"Customer {n} writes", name=f"Customer {n}")
    rows = page.locator("#conversation-list li.row")
    for n in range(3):
        rows.locator(".preview", has_text=f"Customer {n} writes").wait_for()
    page.wait_for_timeout(1500)  # a second fetch would have been made by now
    assert rows.count() == 4
    assert len([url for url in fetched if list_path in url]) == 1, fetched


def _story(tenant: Tenant) -> tuple[Any, Any]:
    support = InboxFactory(account=tenant.account, name="Support")
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    ai_on(tenant.account, support)
    message = inbound(
        tenant.account, support, "+13125550177", f"Hi, my heating is broken {XSS} call me", name="Omar Haddad"
    )
    fact_record_ai(
        account=tenant.account,
        contact=message.contact,
        inbox=support,
        key="email",
        value="omar@exmaple.com",
        confidence=0.8,
        engine="local/1",
        source_message=message,
        conversation=message.conversation,
    )
    handoff_record(
        account=tenant.account,
        conversation=message.conversation,
        from_party="AI agent",
        reason="The customer asked for a person",
        what_was_done={"actions": ["Greeted the customer", "Asked for the address"]},
        missing=["address"],
        suggested_next_step="Call Omar back about the heating",
    )
    return support, message


def test_take_over_from_ai_shows_the_handoff_and_a_fact_is_corrected(asgi_server: str, browser: Any) -> None:
    tenant = make_tenant("Acme")
    _, message = _story(tenant)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, asgi_server, tenant.agent.email)
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/conversations/{message.conversation_id}/")
    wait_live(page)
    # customer text is text
    page.locator(".msg .body", has_text=XSS).wait_for()
    assert page.locator(".thread img").count() == 0 and dialogs == []

    page.get_by_role("button", name="Take over from AI").click()
    page.get_by_role("button", name="Hand back to AI").wait_for()
    card = page.locator(".handoff.pinned")
    card.wait_for()
    assert "The customer asked for a person" in card.inner_text()
    assert "Asked for the address" in card.inner_text() and "Call Omar back" in card.inner_text()
    assert page.locator(".activity-line", has_text="took over from the AI agent").count() == 1

    fact = page.locator(".fact", has_text="omar@exmaple.com")
    fact.get_by_text("Correct", exact=True).click()
    fact.get_by_label("Correct Email").fill("omar@example.com")
    fact.get_by_role("button", name="Save").click()
    page.locator(".fact-value", has_text="omar@example.com").wait_for()
    assert page.locator(".fact-value", has_text="omar@exmaple.com").count() == 0
    from memory.models import Fact

    current = Fact.objects.get(contact=message.contact, key="email", status="active")
    assert current.value == "omar@example.com" and current.author_user == tenant.agent

    # a bad value gets the API's words next to the field
    fact = page.locator(".fact", has_text="omar@example.com")
    fact.get_by_text("Correct", exact=True).click()
    fact.get_by_label("Correct Email").fill("not an email")
    fact.get_by_role("button", name="Save").click()
    page.locator(".field-error").first.wait_for()
    error = page.locator(".field-error").first.inner_text()

    def ai_learns_the_name(value: str) -> None:  # a memory.updated: the panel refreshes live
        fact_record_ai(account=tenant.account, contact=message.contact, inbox=message.inbox, key="name",
                       value=value, confidence=0.9, engine="local/1", source_message=message,
                       conversation=message.conversation)  # fmt: skip
        page.locator(".fact-value", has_text=value).wait_for()

    # the panel refreshed live meanwhile: the error and what was typed stay
    ai_learns_the_name("Omar Q. Haddad")
    assert page.locator(".field-error").all_inner_texts() == [error]
    field = fact.get_by_label("Correct Email")
    assert field.input_value() == "not an email" and field.get_attribute("aria-invalid") == "true"

    # sent again with a good value: kept, and the error does not come back with the next live refresh
    field.fill("omar.haddad@example.com")
    fact.get_by_role("button", name="Save").click()
    page.locator(".fact-value", has_text="omar.haddad@example.com").wait_for()
    ai_learns_the_name("Omar Quincy Haddad")
    page.wait_for_timeout(500)
    assert page.locator(".field-error").count() == 0
    context.close()


def test_admin_creates_an_inbox_connects_twilio_and_copies_the_webhook_url(
    asgi_server: str, browser: Any, settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://inbox.example.com"
    tenant = make_tenant("Acme")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=asgi_server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, asgi_server, tenant.admin.email)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Name", exact=True).nth(1).fill("Sales")
    page.get_by_role("button", name="Create inbox").click()
    page.get_by_role("heading", name="Sales", exact=True).wait_for()

    page.get_by_role("link", name="Channels", exact=True).click()
    page.get_by_role("heading", name="Channels").wait_for()
    page.get_by_label("Number").fill("(312) 555-0100")
    page.get_by_label("Account SID").fill(SID)
    page.get_by_label("Auth token").fill(TOKEN)
    page.get_by_role("button", name="Connect number").click()
    endpoint = wait_until(lambda: ChannelEndpoint.objects.filter(account=tenant.account).first())
    expected = f"https://inbox.example.com/webhooks/twilio/{endpoint.public_id}/messaging"
    page.get_by_text(expected).wait_for()
    assert TOKEN not in page.content()
    page.get_by_role("button", name="Copy A message comes in (Messaging webhook) URL").click()
    page.locator(".toast", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert endpoint.address == "+13125550100"

    # a wrong value is named by the API next to its field
    page.get_by_label("Number").fill("12")
    page.get_by_label("Account SID").fill("nope")
    page.get_by_label("Auth token").fill("x")
    page.get_by_role("button", name="Connect number").click()
    page.locator(".field-error", has_text="starts with AC").wait_for()
    context.close()


def test_agent_of_another_inbox_cannot_open_the_conversation(asgi_server: str, browser: Any) -> None:
    tenant = make_tenant("Acme")
    billing = InboxFactory(account=tenant.account, name="Billing")  # the agent is not a member
    message = inbound(tenant.account, billing, "+13125550199", "About my invoice")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, asgi_server, tenant.agent.email)
    response = page.goto(f"{asgi_server}/a/{tenant.account.pk}/conversations/{message.conversation_id}/")
    assert response.status == 404
    assert "About my invoice" not in page.content()
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/")
    assert "About my invoice" not in page.content()
    context.close()


def test_phone_width_and_keyboard(asgi_server: str, browser: Any) -> None:
    tenant = make_tenant("Acme")
    _, message = _story(tenant)
    conversation_hand_to_human(account=tenant.account, conversation=message.conversation, assignee=None, text="x")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, asgi_server, tenant.agent.email)
    for path in (
        "/",
        f"/conversations/{message.conversation_id}/",
        f"/contacts/{message.contact_id}/",
        "/search?q=heating",
    ):
        page.goto(f"{asgi_server}/a/{tenant.account.pk}{path}")
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px"
    # keyboard only: Alt+N switches to a private note, Ctrl+Enter sends it
    page.goto(f"{asgi_server}/a/{tenant.account.pk}/conversations/{message.conversation_id}/")
    wait_live(page)
    page.get_by_role("textbox", name="Message").focus()
    page.keyboard.press("Alt+n")
    page.keyboard.type("Customer prefers mornings")
    page.keyboard.press("Control+Enter")
    page.locator(".msg.note", has_text="Customer prefers mornings").wait_for()
    assert Message.objects.get(body="Customer prefers mornings").kind == "note"
    context.close()

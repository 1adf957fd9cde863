"""The team's everyday tools in Chromium, as two agents use them: a canned reply picked with "/" and filled for
the customer and the agent; a mention in a private note that reaches the other agent's browser live (the bell
and the notification centre); labels and a bulk action on the list."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Role
from inbox.models import CannedResponse, Conversation, ConversationLabel, Label, Message, Notification
from inbox.services import inbox_member_add
from tests.browser.conftest import sign_in, wait_live
from tests.conftest import make_tenant
from tests.factories import InboxFactory, MembershipFactory, inbound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser: Any, base: str, email: str, path: str) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(20_000)
    sign_in(page, base, email)
    page.goto(f"{base}{path}")
    wait_live(page)
    return page


def test_canned_reply_mention_labels_and_bulk(asgi_server: str, browser: Any) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support", auto_assign=False)
    dana = tenant.agent
    dana.name = "Dana Whitfield"
    dana.save()
    sam: Any = MembershipFactory(account=tenant.account, role=Role.AGENT).user
    sam.name = "Sam Ortiz"
    sam.save()
    for user in (dana, sam):
        inbox_member_add(account=tenant.account, actor=None, inbox=support, user=user)
    CannedResponse.objects.create(
        account=tenant.account,
        shortcut="hours",
        body="Hi {{contact.first_name}}, we're open 8-18. {{agent.first_name}}",
    )
    vip = Label.objects.create(account=tenant.account, name="VIP", colour="#b45309")
    first = inbound(tenant.account, support, "+13125550101", "When are you open?", name="Rosa Diaz").conversation
    second = inbound(tenant.account, support, "+13125550102", "Invoice question").conversation
    account = tenant.account.pk

    dana_page = _page(browser, asgi_server, dana.email, f"/a/{account}/conversations/{first.pk}/")
    sam_page = _page(browser, asgi_server, sam.email, f"/a/{account}/")

    # "/" opens the canned responses; Enter puts the text in, filled for Rosa and Dana; it is sent as a reply
    composer = dana_page.get_by_role("textbox", name="Message")
    composer.fill("")
    composer.type("/ho")
    dana_page.get_by_role("option", name="/hours").wait_for()
    composer.press("Enter")
    assert composer.input_value() == "Hi Rosa, we're open 8-18. Dana"
    composer.press("Control+Enter")
    dana_page.locator(".msg.dir-out", has_text="Hi Rosa, we're open 8-18. Dana").wait_for()

    # a private note mentioning Sam reaches Sam's browser live: the bell counts it, the centre lists it
    dana_page.get_by_label("Private note").check()
    composer.fill("")
    composer.type("@Sa")  # the picker offers teammates of the inbox
    dana_page.get_by_role("option", name="@Sam Ortiz").wait_for()
    composer.press("Enter")
    composer.type("can you check the invoice history?")
    assert composer.input_value() == "@Sam Ortiz can you check the invoice history?"
    composer.press("Control+Enter")
    sam_page.locator("#unread-notifications", has_text="1").wait_for()
    notification = Notification.objects.get(user=sam)
    assert notification.kind == "mention" and notification.text.startswith("Dana Whitfield mentioned you on #")
    assert not Notification.objects.filter(user=dana).exists()  # the author is not notified of their own note
    sam_page.get_by_role("link", name="Notifications, 1 unread").click()
    sam_page.get_by_role("link", name=notification.text).click()  # opening it marks it read
    sam_page.wait_for_url(f"**/conversations/{first.pk}/")
    notification.refresh_from_db()
    assert notification.read_at is not None

    # a label from the header's More menu; then the bulk bar labels and resolves both conversations
    dana_page.locator(".more-actions > summary").click()
    dana_page.get_by_label("Add a label").select_option(label="VIP")
    dana_page.get_by_role("button", name="Add", exact=True).click()
    dana_page.locator(".labels .chip", has_text="VIP").wait_for()
    assert ConversationLabel.objects.filter(conversation=first, label=vip).exists()
    dana_page.goto(f"{asgi_server}/a/{account}/?folder=all")
    wait_live(dana_page)
    for conversation in (first, second):
        dana_page.locator(f"li[data-conversation-id='{conversation.pk}'] input.pick").check()
    dana_page.locator(".bulk-count", has_text="2 selected").wait_for()
    dana_page.get_by_label("Bulk action").select_option(label="Resolve")
    dana_page.get_by_role("button", name="Apply").click()
    dana_page.get_by_text("Done").wait_for()
    assert set(Conversation.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {
        "resolved"
    }
    assert Message.objects.filter(conversation=second, body__endswith="changed the status to resolved").exists()
    # the label filter shows only the labelled conversation
    dana_page.locator(".label-filter a", has_text="VIP").click()
    dana_page.locator("#list-title .chip", has_text="VIP").wait_for()
    dana_page.locator(f"li[data-conversation-id='{first.pk}']").wait_for()
    assert dana_page.locator(f"li[data-conversation-id='{second.pk}']").count() == 0

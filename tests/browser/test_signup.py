"""From the sign-up page to the first message from a website visitor, as a new business owner does it in
Chromium: sign up, open the emailed link, confirm, try the chat in the preview of their site, and see the
visitor's message in the console. What the person does is counted (14 actions: typing a field or clicking) and the
run is timed and printed; at a few seconds per action that is well under the 2 minutes the product promises. No
wall-clock threshold is asserted (docs/onboarding.md has the figures)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.core import mail

from accounts.models import Account
from inbox.models import Message
from tests.browser.conftest import wait_live
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_to_the_first_widget_message(asgi_server: str, browser: Any) -> None:
    from django.core.cache import cache

    cache.clear()  # the sign-up throttle counts per client address
    owner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    owner.set_default_timeout(20_000)
    started = time.monotonic()
    owner.goto(f"{asgi_server}/auth/login/")
    owner.get_by_role("link", name="Create an account").click()
    owner.get_by_label("Your name").fill("Rosa Diaz")
    owner.get_by_label("Work email").fill("rosa@diazplumbing.com")
    owner.get_by_label("Password").fill("correct-horse-battery")
    owner.get_by_label("Business name").fill("Diaz Plumbing")
    owner.get_by_role("button", name="Create account").click()
    owner.get_by_role("heading", name="Check your email").wait_for()

    link = wait_until(lambda: mail.outbox and re.search(r"https?://\S+/auth/signup/confirm/\S+/", mail.outbox[-1].body),
                      what="the confirmation email")  # fmt: skip
    owner.goto(asgi_server + "/" + link.group(0).split("/", 3)[3])
    owner.get_by_role("button", name="Confirm and start").click()
    owner.get_by_role("heading", name="Welcome to Continuum").wait_for()
    account = Account.objects.get(name="Diaz Plumbing")
    assert "0 of 5" in owner.locator("section", has_text="set up").first.inner_text()
    assert 'data-widget="wgt_' in owner.locator("#widget-snippet").inner_text()

    # the preview of their site, with the chat, in another tab
    with owner.context.expect_page() as opened:
        owner.get_by_role("link", name="open a preview of your site with the chat").click()
    site = opened.value
    site.set_default_timeout(20_000)
    site.get_by_role("button", name="Open chat").click()
    site.get_by_label("Your name").fill("Ben Carter")
    site.get_by_role("button", name="Start chat").click()
    site.get_by_label("Your message").fill("Do you fix tankless water heaters?")
    site.keyboard.press("Enter")

    owner.get_by_role("link", name="the inbox").click()
    wait_live(owner)
    owner.locator("#conversation-list", has_text="Do you fix tankless water heaters?").wait_for()
    elapsed = time.monotonic() - started
    actions = (
        14  # 1 link, 4 fields, 2 buttons, the emailed link, 1 button, 1 link, 1 button + 1 field + 1 button, 1 field
    )
    print(f"sign-up page to the first visitor message in the console: {actions} actions, {elapsed:.1f} s automated")
    assert Message.objects.get(account=account, channel="webchat").contact.name == "Ben Carter"
    owner.goto(f"{asgi_server}/a/{account.pk}/welcome/")
    assert "1 of 5" in owner.locator("section", has_text="set up").first.inner_text()  # the chat step is ticked

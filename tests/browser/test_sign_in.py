"""A person signs in with email and password, sees their accounts, and signs out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_tenant
from tests.factories import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_wrong_password_then_right_then_sign_out(live_server: Any, page: Any) -> None:
    tenant = make_tenant("Harbor Dental")
    page.goto(f"{live_server.url}/")
    assert "/auth/login/" in page.url  # the console requires a session

    page.get_by_label("Email").fill(tenant.agent.email.upper())
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That email and password do not match")

    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # One account: straight into its inbox, the account named in the switcher.
    page.get_by_role("heading", name="All", exact=True).wait_for()
    assert page.locator(".menu summary").inner_text().endswith("Harbor Dental")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    page.goto(f"{live_server.url}/")
    assert "/auth/login/" in page.url


def test_customer_text_is_escaped(live_server: Any, page: Any) -> None:
    tenant = make_tenant("<img src=x onerror=alert(1)>")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/auth/login/")
    page.get_by_label("Email").fill(tenant.admin.email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".menu summary").get_by_text("<img src=x onerror=alert(1)>").wait_for()
    assert dialogs == []
    assert page.locator("img").count() == 0

"""Playwright driving the system Chromium, headless, against the live test server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from config.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM}: install Debian's chromium package (`apt-get install chromium`)"
        if os.environ.get("CONTINUUM_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, which makes Django refuse the test's
    # own ORM calls; the test code is synchronous, so allow them while (and only while) a browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[str]:
    """The real ASGI application (HTTP and websockets) served by uvicorn in a thread, on this test's database
    and Redis: what `make run` serves, so pages update live in the browser."""
    import threading

    import uvicorn
    from channels.layers import channel_layers

    from config.asgi import application
    from tests.conftest import _free_port, wait_until

    channel_layers.backends.clear()  # a channel layer receives on one event loop: a fresh one for this server
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=20, what="the ASGI test server")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    channel_layers.backends.clear()


def sign_in(page: Any, base_url: str, email: str) -> None:
    from tests.factories import TEST_PASSWORD

    page.goto(f"{base_url}/auth/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login/" not in url)


def wait_live(page: Any) -> None:
    """Wait until the console's websocket is open (events from now on reach this page)."""
    page.locator("html[data-live='on']").wait_for(state="attached")

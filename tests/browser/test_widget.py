"""The webchat widget on a customer's site (another origin), in Chromium: the pre-chat form, a message into the
inbox over the websocket, the agent's reply and typing shown live, and the session kept across reloads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from channels_app import webchat
from channels_app.models import ChannelEndpoint
from channels_app.tasks import deliver_message
from inbox.models import Message
from inbox.services import send_message
from tests.conftest import Tenant, _free_port, wait_until
from tests.factories import InboxFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def host_site(asgi_server: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A customer's web page on its own origin (localhost, not 127.0.0.1) embedding the widget."""
    page_for: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = page_for.get("html", "").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    port = _free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{port}", page_for
    server.shutdown()


def test_a_visitor_chats_from_a_customer_site_and_sees_the_reply_live(
    page: Any, asgi_server: str, host_site: tuple[str, dict[str, str]], tenant: Tenant
) -> None:
    origin, page_for = host_site
    inbox = InboxFactory(account=tenant.account, name="Support")
    endpoint = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=inbox,
        kind="webchat",
        provider="widget",
        address=webchat.new_widget_token(),
        options={"allowed_origins": [origin], "prechat_fields": ["name"], "title": "Northwind"},
    )
    page_for["html"] = (
        "<!doctype html><html><head><title>Northwind Bikes</title></head><body><h1>Northwind Bikes</h1>"
        f'<script src="{asgi_server}/static/widget/continuum.js" data-widget="{endpoint.address}" async></script>'
        "</body></html>"
    )
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(origin)
    page.get_by_role("button", name="Open chat").click()
    page.get_by_label("Your name").fill("Lena Fischer")
    page.get_by_role("button", name="Start chat").click()
    page.get_by_label("Your message").fill("Is the Trekking 7 in stock in size M?")
    page.keyboard.press("Enter")

    message = wait_until(
        lambda: Message.objects.filter(inbox=inbox, channel="webchat").first(), what="the visitor's message"
    )
    assert message.body == "Is the Trekking 7 in stock in size M?" and message.contact.name == "Lena Fischer"
    page.locator(f".msg.in[data-id='{message.pk}']").wait_for()  # acknowledged over the websocket

    reply = send_message(
        account=tenant.account, conversation=message.conversation, body="Yes, two left in M.", sender_user=tenant.admin
    )
    deliver_message.run(tenant.account.pk, reply.pk)
    page.get_by_text("Yes, two left in M.").wait_for()
    wait_until(lambda: Message.objects.get(pk=reply.pk).delivery_status == "read", what="the widget's read receipt")

    # The next visit (a reload) keeps the session and the history, and skips the pre-chat form.
    page.reload()
    page.get_by_role("button", name="Open chat").click()
    page.get_by_text("Yes, two left in M.").wait_for()
    assert page.get_by_label("Your name").count() == 0
    assert errors == []


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2e3b2a50000000049454e44ae426082"
)


def test_a_visitor_sends_a_picture_and_asks_for_the_chat_by_email(
    page: Any, asgi_server: str, host_site: tuple[str, dict[str, str]], tenant: Tenant
) -> None:
    origin, page_for = host_site
    inbox = InboxFactory(account=tenant.account, name="Support")
    endpoint = ChannelEndpoint.objects.create(
        account=tenant.account, inbox=inbox, kind="webchat", provider="widget", address=webchat.new_widget_token(),
        options={"allowed_origins": [origin], "title": "Northwind"},
    )  # fmt: skip
    page_for["html"] = (
        "<!doctype html><html><body><h1>Northwind Bikes</h1>"
        f'<script src="{asgi_server}/static/widget/continuum.js" data-widget="{endpoint.address}" async></script>'
        "</body></html>"
    )
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(origin)
    page.get_by_role("button", name="Open chat").click()
    page.get_by_label("Your message").fill("My chain looks like this:")
    page.keyboard.press("Enter")
    page.get_by_label("Send a file").set_input_files(
        files=[{"name": "chain.png", "mimeType": "image/png", "buffer": PNG}]
    )
    bubble = page.locator(".msg.in[data-id] .file", has=page.locator("img"))
    bubble.wait_for()  # sent, stored, fetched back with the session and shown
    # a 1x1 picture: its name under it says what the bubble holds (it was an empty-looking bubble)
    assert bubble.locator(".caption").inner_text() == "chain.png" and bubble.locator(".caption").is_visible()
    assert bubble.get_attribute("aria-label") == "Download chain.png"
    message = wait_until(
        lambda: Message.objects.filter(inbox=inbox, channel="webchat", attachments__isnull=False).first(),
        what="the file's message",
    )
    assert message.attachments.get().filename == "chain.png"
    # a file type nobody may send is refused in words
    page.get_by_label("Send a file").set_input_files(
        files=[{"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90\x00"}]
    )
    page.get_by_text("cannot be attached").wait_for()

    page.get_by_role("button", name="Email me this chat").click()
    page.get_by_label("Your email").fill("lena@example.com")
    page.get_by_role("button", name="Send", exact=True).first.click()
    page.get_by_label("The 6-digit code we just emailed you").wait_for()
    assert [e for e in errors if "400" not in e] == []  # the refused file answers 400, which the console notes

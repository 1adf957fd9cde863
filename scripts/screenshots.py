"""Screenshots of the console's main pages, for docs/screenshots/ and the README.

With `make run` up (the demo account seeded):

    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots]

Signs in as the demo admin, walks the pages the way a person would (by clicking, so no ids are assumed), and
saves each at 1280x800, plus the conversation at phone width (390x844). Fails on any browser console error
(a CSP refusal shows up there) so a broken page never becomes a picture in the docs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config.chromium import CHROMIUM, CHROMIUM_ARGS

ADMIN = "admin@demo.continuum.test"
PASSWORD = "continuum-demo"  # noqa: S105 - the published demo password


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/auth/login/")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("html[data-live='on']").wait_for(state="attached")


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    def shot(page: Page, name: str) -> None:
        settle(page)
        # caret="initial": hiding the caret makes Playwright inject a <style>, which the CSP (rightly) refuses
        page.screenshot(path=out / f"{name}.png", caret="initial")
        print(f"{out / name}.png  {page.url}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{args.base}/auth/login/")
        shot(page, "sign-in")
        sign_in(page, args.base)
        shot(page, "inbox")

        # The seed story: Maria's conversation, handed from the AI to a person, memory panel beside the thread.
        page.locator("#conversation-list").get_by_text("Maria Lopez").first.click()
        page.locator("#memory").wait_for()
        shot(page, "conversation")
        conversation_url = page.url

        page.locator("section.conversation").get_by_role("link", name="Maria Lopez").first.click()
        page.get_by_role("heading", name="Identities").wait_for()
        shot(page, "contact")

        page.locator("#global-search").fill("leak")
        page.locator("#global-search").press("Enter")
        page.locator("#search-title").wait_for()
        shot(page, "search")

        page.get_by_role("link", name="Settings").click()
        shot(page, "settings")
        page.get_by_role("link", name="Support").first.click()
        page.get_by_role("link", name="Channels", exact=True).click()
        page.get_by_role("heading", name="Channels").wait_for()
        shot(page, "settings-inbox")
        page.get_by_role("link", name="Audit log").click()
        shot(page, "audit-log")
        page.get_by_role("link", name="Labels and canned responses").click()
        shot(page, "settings-labels")
        page.get_by_role("link", name="Integrations").click()
        shot(page, "settings-integrations")
        page.get_by_role("link", name="Channel sandbox").click()
        page.locator("#sandbox-transcript").wait_for()
        shot(page, "sandbox")
        page.get_by_role("link", name="Reports").click()
        page.locator("svg.chart").first.wait_for()
        shot(page, "reports")
        page.get_by_role("link", name="Notifications").click()
        shot(page, "notifications")
        page.goto(conversation_url.split("/conversations/")[0] + "/")
        page.get_by_role("link", name="New conversation").click()
        page.get_by_role("heading", name="New conversation").wait_for()
        shot(page, "new-conversation")
        # Tom wrote on WhatsApp two days ago: the composer offers the inbox's approved templates, filled from memory.
        page.goto(conversation_url.split("/conversations/")[0] + "/")
        page.locator("#conversation-list").get_by_text("Tom Becker").first.click()
        page.locator("#wa-templates").scroll_into_view_if_needed()
        shot(page, "whatsapp-template")

        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        mobile = phone.new_page()
        mobile.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(mobile, args.base)
        mobile.goto(conversation_url)
        mobile.locator("#thread").wait_for()
        shot(mobile, "conversation-phone")

        # Last (it adds a conversation): a visitor on the demo site writes through the webchat widget.
        site = browser.new_context(viewport={"width": 1100, "height": 720}).new_page()
        site.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        site.goto(f"{args.base}/static/widget/demo.html")
        site.get_by_role("button", name="Open chat").click()
        site.get_by_label("Your name").fill("Jordan Lee")
        site.get_by_role("button", name="Start chat").click()
        site.get_by_label("Your message").fill("Could you quote a new kitchen faucet? Tomorrow would suit me.")
        site.keyboard.press("Enter")
        site.get_by_text("Ava · Acme Plumbing").first.wait_for(timeout=30_000)  # the AI agent answers, live
        shot(site, "widget")
        browser.close()
    if errors:
        raise SystemExit("browser errors:\n" + "\n".join(errors))


if __name__ == "__main__":
    main()

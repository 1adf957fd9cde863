"""Satisfaction as customers answer it: an SMS customer replies with a digit through Twilio's signed webhook (a
real worker stores it) and the agent sees the rating arrive live; an email customer rates in Chromium through the
link in the question; both show up in the reports page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from channels_app.credentials import credentials_encrypt
from channels_app.models import ChannelEndpoint
from inbox.models import Conversation, CsatSurvey, InboxMember
from inbox.services import conversation_set_status
from reports.rollup import rebuild_recent
from tests.browser.conftest import sign_in, wait_live
from tests.browser.test_console import SID, TOKEN, fake_twilio, post_signed, sms  # noqa: F401 (a fixture)
from tests.conftest import make_tenant, wait_until
from tests.factories import InboxFactory, inbound
from tests.fakes.twilio_server import FakeTwilio

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.integration
def test_ratings_arrive_by_sms_digit_and_by_link(
    fake_twilio: FakeTwilio,  # noqa: F811
    celery_worker_process: Any,
    asgi_server: str,
    browser: Any,
) -> None:
    tenant = make_tenant("Acme")
    support = InboxFactory(account=tenant.account, name="Support", csat_enabled=True, auto_assign=False)
    InboxMember.objects.create(account=tenant.account, inbox=support, user=tenant.agent)
    endpoint = ChannelEndpoint.objects.create(
        account=tenant.account,
        inbox=support,
        kind="sms",
        address="+13125550100",
        credentials_encrypted=credentials_encrypt({"account_sid": SID, "auth_token": TOKEN}),
    )
    texted = inbound(tenant.account, support, "+13125550177", "Is my boiler fixed?").conversation
    mailed = inbound(
        tenant.account, support, "ana@example.org", "Invoice copy?", kind="email", channel="email"
    ).conversation
    for conversation in (texted, mailed):
        conversation_set_status(
            account=tenant.account, actor=tenant.agent, conversation=conversation, status="resolved"
        )
    assert CsatSurvey.objects.count() == 2

    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    agent.set_default_timeout(20_000)
    sign_in(agent, asgi_server, tenant.agent.email)
    agent.goto(f"{asgi_server}/a/{tenant.account.pk}/conversations/{texted.pk}/")
    wait_live(agent)

    # the SMS customer answers "4" through Twilio's signed webhook; the worker records it on the resolved conversation
    post_signed(endpoint, "messaging", sms("4 - quick and friendly", "SM" + "4" * 32))
    agent.locator(".activity-line", has_text="The customer rated this conversation 4/5").wait_for()
    survey = wait_until(
        lambda: CsatSurvey.objects.filter(conversation=texted, rating__isnull=False).first(), what="the SMS rating"
    )
    assert (survey.rating, survey.comment) == (4, "quick and friendly")
    assert Conversation.objects.get(pk=texted.pk).status == "resolved"

    # the email customer opens the link from the question and rates in the browser
    link = CsatSurvey.objects.get(conversation=mailed)
    customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    customer.goto(f"{asgi_server}/csat/{link.token}/")
    customer.get_by_label("5 — Great").check()
    customer.get_by_label("Anything to add? (optional)").fill("Sent within minutes")
    customer.get_by_role("button", name="Send").click()
    customer.get_by_role("heading", name="Thank you!").wait_for()
    link.refresh_from_db()
    assert (link.rating, link.comment) == (5, "Sent within minutes")

    # both reach the reports
    rebuild_recent()
    agent.goto(f"{asgi_server}/a/{tenant.account.pk}/reports/")
    agent.locator(".tile", has_text="satisfaction (2 ratings)").wait_for()
    assert "4.5/5" in agent.locator(".tile", has_text="satisfaction").inner_text()
    # and the page's CSV is the same report, downloaded
    with agent.expect_download() as download:
        agent.get_by_role("link", name="CSV per day").click()
    path = download.value.path()
    assert download.value.suggested_filename.startswith("report-day-") and path is not None
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("day,opened,") and any(",2," in line or line.endswith(",2") for line in lines[1:])

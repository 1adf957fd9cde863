"""CSAT: after a person resolves a conversation in an inbox that asks, the customer is asked once on its channel;
a reply digit on SMS (with an optional comment) or the link's page records the rating, which never reopens the
conversation nor starts a new one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from inbox.models import Conversation, CsatSurvey, Message
from inbox.services import conversation_set_status
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def asking(tenant: Tenant) -> Any:
    return InboxFactory(account=tenant.account, name="Support", csat_enabled=True)


def test_an_sms_customer_rates_with_a_digit_and_a_comment(tenant: Tenant, asking: Any) -> None:
    conversation = inbound(tenant.account, asking, "+13125550101", "My boiler is fixed?").conversation
    conversation_set_status(account=tenant.account, actor=tenant.agent, conversation=conversation, status="resolved")
    survey = CsatSurvey.objects.get(conversation=conversation)
    question = Message.objects.get(conversation=conversation, metadata__csat=survey.pk)
    assert question.channel == "sms" and "Reply 1 to 5" in question.body and question.sender_type == "system"
    answer = inbound(tenant.account, asking, "+13125550101", "4 - thanks, quick fix")
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (4, "thanks, quick fix")
    assert answer.conversation_id == conversation.pk
    assert Conversation.objects.get(pk=conversation.pk).status == "resolved"  # a rating does not reopen it
    assert Conversation.objects.filter(contact=conversation.contact).count() == 1
    assert Message.objects.filter(conversation=conversation, body="The customer rated this conversation 4/5").exists()
    # the next message is an ordinary one again: it reopens the conversation
    inbound(tenant.account, asking, "+13125550101", "5")
    assert Conversation.objects.get(pk=conversation.pk).status == "live"


def test_an_email_customer_rates_once_through_the_link(tenant: Tenant, asking: Any) -> None:
    conversation = inbound(
        tenant.account, asking, "ana@example.org", "Invoice?", kind="email", channel="email"
    ).conversation
    conversation_set_status(account=tenant.account, actor=tenant.agent, conversation=conversation, status="resolved")
    survey = CsatSurvey.objects.get(conversation=conversation)
    question = Message.objects.get(conversation=conversation, metadata__csat=survey.pk)
    assert question.channel == "email" and f"/csat/{survey.token}/" in question.body
    page = Client().get(f"/csat/{survey.token}/")
    assert page.status_code == 200 and "How did Support" in page.content.decode()
    bad = Client().post(f"/csat/{survey.token}/", {"rating": "9"})
    assert bad.status_code == 400 and "from 1 to 5" in bad.content.decode()
    done = Client().post(f"/csat/{survey.token}/", {"rating": "5", "comment": "Lovely"})
    assert done.status_code == 200 and "Thank you" in done.content.decode()
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (5, "Lovely")
    Client().post(f"/csat/{survey.token}/", {"rating": "1"})  # answered once
    survey.refresh_from_db()
    assert survey.rating == 5
    assert Client().get("/csat/not-a-token/").status_code == 404


@pytest.mark.parametrize("who", ["nobody", "off"])
def test_no_survey_without_a_person_or_when_the_inbox_does_not_ask(tenant: Tenant, asking: Any, who: str) -> None:
    inbox = asking if who == "nobody" else InboxFactory(account=tenant.account, name="Quiet")
    conversation = inbound(tenant.account, inbox, "+13125550101", "hi").conversation
    actor = None if who == "nobody" else tenant.agent  # resolved by a playbook / the system: no survey
    conversation_set_status(account=tenant.account, actor=actor, conversation=conversation, status="resolved")
    assert not CsatSurvey.objects.exists()

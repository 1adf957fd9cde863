"""Reports from the daily rollup: opened and resolved, first response and resolution time in business hours, the
AI's share and handoff rate, sentiment and satisfaction, per inbox, agent, channel and label; the API, its CSV, the
console page; an agent sees their own inboxes only; the page's queries do not grow with the data."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.hours import open_seconds
from inbox.models import Conversation, ConversationLabel, CsatSurvey, Label, Message
from inbox.services import conversation_set_status, inbox_member_add, send_message
from memory.services import handoff_record, sentiment_record
from reports.rollup import rebuild_day, rebuild_recent
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound
from tests.web.test_pages import signed_in

WEEKDAYS_9_TO_5 = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_open_seconds_count_the_schedule_only() -> None:
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # a Friday
    monday_10am = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert open_seconds(WEEKDAYS_9_TO_5, "UTC", friday_4pm, monday_10am) == 2 * 3600  # 1 h Friday + 1 h Monday
    assert open_seconds({}, "UTC", friday_4pm, monday_10am) == (monday_10am - friday_4pm).total_seconds()
    assert open_seconds(WEEKDAYS_9_TO_5, "UTC", monday_10am, friday_4pm) == 0.0


@pytest.fixture
def day_of_work(tenant: Tenant) -> dict[str, Any]:
    support = InboxFactory(account=tenant.account, name="Support", auto_assign=False)
    sales = InboxFactory(account=tenant.account, name="Sales", auto_assign=False)
    inbox_member_add(account=tenant.account, actor=None, inbox=support, user=tenant.agent)
    vip = Label.objects.create(account=tenant.account, name="VIP")
    a = inbound(tenant.account, support, "+13125550101", "Boiler broken").conversation
    send_message(account=tenant.account, conversation=a, body="On my way", sender_user=tenant.agent)
    sentiment_record(account=tenant.account, message=a.messages.filter(direction="in").first(), score=-0.5,
                     engine="local/1")  # fmt: skip
    ConversationLabel.objects.create(account=tenant.account, conversation=a, label=vip)
    conversation_set_status(account=tenant.account, actor=tenant.agent, conversation=a, status="resolved")
    CsatSurvey.objects.create(
        account=tenant.account,
        conversation=a,
        inbox=support,
        contact=a.contact,
        assignee=tenant.agent,
        channel="sms",
        token="t1",
        rating=4,
        rated_at=timezone.now(),
    )
    b = inbound(tenant.account, sales, "quotes@example.org", "Quote?", kind="email", channel="email").conversation
    handoff_record(account=tenant.account, conversation=b, from_party="AI agent", reason="asked for a person")
    return {"support": support, "sales": sales, "vip": vip, "a": a, "b": b}


def _api(tenant: Tenant, who: str = "admin", query: str = "") -> Any:
    response = tenant.client(who).get(f"/api/v1/accounts/{tenant.account.pk}/reports{query}")
    assert response.status_code in (200, 400), response.content
    return response


def test_the_rollup_and_the_api(tenant: Tenant, day_of_work: dict[str, Any]) -> None:
    today = timezone.now().astimezone(UTC).date()
    assert rebuild_day(tenant.account, today) > 0
    assert rebuild_day(tenant.account, today) > 0  # idempotent: the day is replaced whole
    report = _api(tenant).json()
    totals = report["totals"]
    assert (totals["opened"], totals["resolved"], totals["handoffs"]) == (2, 1, 1)
    assert totals["first_responses"] == 1 and totals["first_response_avg_seconds"] is not None
    assert (totals["csat_avg"], totals["csat_count"], totals["sentiment_avg"]) == (4.0, 1, -0.5)
    by_inbox = {r["key"]: r for r in _api(tenant, query="?group=inbox").json()["rows"]}
    support, sales = day_of_work["support"], day_of_work["sales"]
    assert by_inbox[support.pk]["resolved"] == 1 and by_inbox[sales.pk]["handoffs"] == 1
    by_label = _api(tenant, query="?group=label").json()["rows"]
    assert [(r["key"], r["opened"], r["resolved"]) for r in by_label] == [(day_of_work["vip"].pk, 1, 1)]
    by_channel = {r["key"]: r["opened"] for r in _api(tenant, query="?group=channel").json()["rows"]}
    assert by_channel == {"sms": 1, "email": 1}
    # an agent sees the inboxes they are in
    mine = _api(tenant, "agent", "?group=inbox").json()["rows"]
    assert [r["key"] for r in mine] == [support.pk]
    bad = _api(tenant, query="?from=2026-13-01")
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["from"] == ["from is a date written YYYY-MM-DD."]


def test_the_csv_names_each_row_and_quotes_formulas(tenant: Tenant, day_of_work: dict[str, Any]) -> None:
    day_of_work["sales"].name = "=HYPERLINK(1)"
    day_of_work["sales"].save()
    rebuild_recent()
    response = tenant.client().get(f"/api/v1/accounts/{tenant.account.pk}/reports?group=inbox&export=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["inbox", "opened", "opened_by_ai"]
    assert {r[0] for r in rows[1:]} == {"Support", "'=HYPERLINK(1)"}


def test_the_reports_page_draws_its_charts_with_flat_queries(tenant: Tenant, day_of_work: dict[str, Any]) -> None:
    rebuild_recent()
    client = signed_in(tenant.admin)
    url = f"/a/{tenant.account.pk}/reports/"

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url)
        assert page.status_code == 200
        assert page.content.count(b"<svg") == 2 and b"Support" in page.content
        return len(queries)

    small = count()
    for n in range(10):  # ten more days of work: the rollup grows, the page's queries do not
        c = inbound(tenant.account, day_of_work["support"], f"+1312555{n:04d}", "hi").conversation
        Conversation.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=n + 1))
    for n in range(10):
        rebuild_day(tenant.account, (timezone.now() - timedelta(days=n + 1)).astimezone(UTC).date())
    assert count() == small


def test_a_rebuilt_day_gives_each_conversation_to_whoever_had_it_that_day(tenant: Tenant) -> None:
    """Opened and resolved count for the assignee as the day ended, a mood reading for the assignee when the customer
    wrote: a day rebuilt later (beat rebuilds yesterday; `reports_rebuild` any range) is not moved to whoever owns
    the conversation by then."""
    from django.db.models import Sum

    from inbox.services import conversation_assign
    from reports.models import ReportDay

    account, today = tenant.account, timezone.now().astimezone(UTC).date()
    support = InboxFactory(account=account, name="Support", auto_assign=False)
    inbox_member_add(account=account, actor=None, inbox=support, user=tenant.agent)
    first = inbound(account, support, "+13125550111", "The heater is off")
    conversation = first.conversation
    conversation_assign(account=account, actor=tenant.admin, conversation=conversation, assignee=tenant.agent)
    second = inbound(account, support, "+13125550111", "Still off, and it is cold")
    sentiment_record(account=account, message=second, score=-0.6, engine="local/1")
    conversation_set_status(account=account, actor=tenant.agent, conversation=conversation, status="resolved")
    # the next morning it goes to someone else
    conversation.refresh_from_db()
    conversation_assign(account=account, actor=tenant.admin, conversation=conversation, assignee=tenant.admin)
    reassigned = conversation.messages.order_by("-id").first()
    assert reassigned is not None and reassigned.conversation_assignee_id == tenant.admin.pk
    Message.objects.filter(pk=reassigned.pk).update(created_at=timezone.now() + timedelta(days=1))
    rebuild_day(account, today)

    def counts(user: Any) -> dict[str, Any]:
        return ReportDay.objects.filter(account=account, day=today, agent=user).aggregate(
            opened=Sum("opened"), resolved=Sum("resolved"), readings=Sum("sentiment_count")
        )

    assert counts(tenant.agent) == {"opened": 1, "resolved": 1, "readings": 1}
    assert counts(tenant.admin) == {"opened": None, "resolved": None, "readings": None}

"""The inbound path's database round trips, pinned: each one waits for a CPU under load (docs/performance.md,
realtime), so a change that adds one shows here."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import ChannelEndpoint, InboundEvent
from channels_app.tasks import process_inbound_event
from tests.channels_app.test_twilio import fixture, post
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def _process_one(endpoint: ChannelEndpoint, sid: str, sender: str, capture: Any = None) -> int:
    payload = fixture("sms_inbound", **{"SM5f1c7a6d2b8e4a0c9d3e1f2a3b4c5d6e": sid, "+13125550188": sender})
    assert post(endpoint, "messaging", payload).status_code == 200
    event = InboundEvent.objects.get(idempotency_key=sid)
    with CaptureQueriesContext(connection) as queries:
        if capture is None:
            assert process_inbound_event.run(event.pk) == "processed"
        else:  # and what runs once it commits: the row and message rendered for the consoles, the plugins
            with capture(execute=True):
                assert process_inbound_event.run(event.pk) == "processed"
    return len(queries)


def test_an_inbound_sms_costs_a_fixed_number_of_queries(tenant: Tenant, sms: ChannelEndpoint) -> None:
    _process_one(sms, "SM" + "0" * 32, "+13125550001")  # the account's first conversation creates its counter
    new_conversation = _process_one(sms, "SM" + "1" * 32, "+13125550002")
    same_conversation = _process_one(sms, "SM" + "2" * 32, "+13125550002")
    # A new customer's address is looked up twice (before and after its lock), a returning one's once and unlocked;
    # the message is inserted without a savepoint around it (23 and 17 before). 33 and 25 before the counter took
    # one round trip and a quiet inbox stopped locking for auto-assignment, 29 and 23 before contact_resolve,
    # receive_message and auto_assign stopped opening savepoints inside the task's transaction (SAVEPOINT and RELEASE
    # each; the test runs inside a transaction, as the task's atomic block does in production, so its own block
    # counts one pair here where production has BEGIN and COMMIT)
    assert (new_conversation, same_conversation) == (22, 14)


def test_after_commit_the_consoles_row_and_message_cost_two_small_reads(
    tenant: Tenant, sms: ChannelEndpoint, django_capture_on_commit_callbacks: Any
) -> None:
    _process_one(sms, "SM" + "0" * 32, "+13125550001", django_capture_on_commit_callbacks)  # caches filled
    with_commit = _process_one(sms, "SM" + "1" * 32, "+13125550002", django_capture_on_commit_callbacks)
    same = _process_one(sms, "SM" + "2" * 32, "+13125550002", django_capture_on_commit_callbacks)
    # the task's 22 and 14, then the row's labels and mood: the message and the rest of the row are rendered from
    # what the task wrote (27 and 21 when both were read again, four queries)
    assert (with_commit, same) == (24, 16)

"""Fixtures shared by the channel tests: a fake Twilio for this process, and an SMS number that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from channels_app.models import ChannelEndpoint
from tests.channels_app.test_twilio import SID, TOKEN, sms_endpoint
from tests.conftest import Tenant
from tests.fakes.twilio_server import FakeTwilio


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as server:
        yield server


@pytest.fixture
def sms(tenant: Tenant, twilio: FakeTwilio, settings: Any) -> ChannelEndpoint:
    return sms_endpoint(tenant, settings, api_base=twilio.url)

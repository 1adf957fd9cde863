"""Facts that survive real messages: every phone candidate tried, a number is a phone only when written as one,
a greeting to a person is not the customer's name, names from sign-offs and es/fr introductions, a fragment
never supersedes a full value, and the API refuses undefined keys and values that do not fit their kind."""

from __future__ import annotations

import pytest

from ai_agent.engines.local import LocalEngine
from memory.definitions import BUILTINS
from memory.models import Fact
from memory.services import fact_record_ai
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

ENGINE = LocalEngine()


def _facts(text: str) -> dict[str, str]:
    return {f.key: f.value for f in ENGINE.analyze(text, definitions=dict(BUILTINS), region="US").facts}


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Invoice INV-2024-000123 is wrong. Call me on 312-555-0188", "+13125550188"),
        ("Ref 4412 5567 8890; my cell is (312) 555 0199", "+13125550199"),
        ("Delivery to 192.168.10.254 failed: host unreachable", None),
        ("UPS tracking 1Z999AA10123456784 has not moved", None),
        ("I was charged $1,250,000.00 by mistake", None),
        ("Order #20240001234 arrived broken", None),
        ("Text me at +44 20 7946 0958 please", "+442079460958"),
    ],
)
def test_a_number_is_a_phone_only_when_written_as_one(text: str, phone: str | None) -> None:
    assert _facts(text).get("phone") == phone


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi Dana, my refund has not arrived", None),
        ("Hello Sam, can you check my order?", None),
        ("The heater is broken again.\n\nThanks,\nRosa Diaz", "Rosa Diaz"),
        ("Still waiting on this. Best regards,\nTom Becker", "Tom Becker"),
        ("Hola, me llamo Lucía Pérez y tengo un problema", "Lucía Pérez"),
        ("Bonjour, je m'appelle Claire Martin", "Claire Martin"),
        ("Bonjour, je suis Émile Dubois, client depuis 2019", "Émile Dubois"),
        ("Thanks, we'll pass for now", None),
    ],
)
def test_names_come_from_the_customer_not_from_a_greeting(text: str, name: str | None) -> None:
    assert _facts(text).get("name") == name


@pytest.mark.django_db
def test_a_fragment_never_supersedes_the_full_value(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    message = inbound(tenant.account, inbox, "+13125550188", "hello")
    common = {"account": tenant.account, "contact": message.contact, "inbox": inbox, "engine": "local/1"}
    fact_record_ai(key="name", value="Rosa Diaz", confidence=0.75, **common)
    kept = fact_record_ai(key="name", value="Rosa", confidence=0.9, **common)
    assert kept is not None and kept.value == "Rosa Diaz"
    fact_record_ai(key="phone", value="+13125550188", confidence=0.9, **common)
    changed = fact_record_ai(key="phone", value="+13125550199", confidence=0.9, **common)
    assert changed is not None and changed.value == "+13125550199"
    assert Fact.objects.filter(key="name", status="active").get().value == "Rosa Diaz"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "value", "field", "says"),
    [
        ("shoe_size", "42", "key", "'shoe_size' is not a fact the Support inbox remembers"),
        ("phone", "call me maybe", "value", "is not a phone number"),
        ("phone", "INV-2024-000123", "value", "is not a phone number"),
        ("phone", "192.168.10.254", "value", "is not a phone number"),
        ("email", "rosa at example", "value", "is not a valid email address"),
    ],
)
def test_the_api_refuses_undefined_keys_and_values_of_the_wrong_kind(
    tenant: Tenant, key: str, value: str, field: str, says: str
) -> None:
    inbox = InboxFactory(account=tenant.account, name="Support")
    contact = inbound(tenant.account, inbox, "+13125550188", "hello").contact
    response = tenant.client("admin").post(
        f"/api/v1/accounts/{tenant.account.pk}/contacts/{contact.pk}/facts",
        {"inbox": inbox.pk, "key": key, "value": value},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert says in response.json()["error"]["fields"][field][0]
    assert not Fact.objects.filter(key=key).exists()

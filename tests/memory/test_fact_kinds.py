"""Fact kinds a small business asks for — number, money, address, phone, email, date, text — read with well-kept
parsers: what a person types through the API is checked and stored in one form (or refused, naming the field),
and the AI reads them from what follows the label in a customer's message."""

from __future__ import annotations

from typing import Any

import pytest

from ai_agent.engines.local import LocalEngine
from memory.definitions import Definition
from memory.models import Fact
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

ENGINE = LocalEngine()
KINDS = {
    "budget": ("Budget", "money"),
    "units": ("Number of units", "number"),
    "service_address": ("Service address", "address"),
    "work_phone": ("Work phone", "phone"),
    "billing_email": ("Billing email", "email"),
    "visit_day": ("Visit day", "date"),
}


@pytest.fixture
def defined(tenant: Tenant) -> tuple[Any, Any]:
    inbox = InboxFactory(account=tenant.account, name="Sales")
    url = f"/api/v1/accounts/{tenant.account.pk}/inboxes/{inbox.pk}/fact-definitions"
    for key, (label, kind) in KINDS.items():
        created = tenant.client().post(url, {"key": key, "label": label, "value_type": kind}, format="json")
        assert created.status_code == 201, created.json()
    contact = inbound(tenant.account, inbox, "+13125550188", "hello").contact
    return inbox, contact


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "typed", "stored"),
    [
        ("budget", "$1,250", "1250.00 $"),
        ("budget", "49.99 EUR", "49.99 EUR"),
        ("units", "1,200", "1200"),
        ("service_address", "42 Elm Street, Springfield, IL 62704", "42 Elm Street, Springfield, IL 62704"),
        ("work_phone", "(312) 555-0199", "+13125550199"),
        ("billing_email", "Ap@Example.ORG", "Ap@example.org"),
    ],
)
def test_typed_values_are_stored_in_one_form(
    tenant: Tenant, defined: tuple[Any, Any], key: str, typed: str, stored: str
) -> None:
    inbox, contact = defined
    url = f"/api/v1/accounts/{tenant.account.pk}/contacts/{contact.pk}/facts"
    response = tenant.client().post(url, {"inbox": inbox.pk, "key": key, "value": typed}, format="json")
    assert response.status_code == 201, response.json()
    assert Fact.objects.get(key=key).value == stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "typed", "says"),
    [
        ("budget", "flexible", "is not an amount of money for Budget"),
        ("units", "a few", "is not a number for Number of units"),
        ("service_address", "near the park", "is not a street address for Service address"),
        ("work_phone", "call me maybe", "is not a phone number"),
        ("visit_day", "whenever", "is not a date we can read for Visit day"),
    ],
)
def test_values_of_the_wrong_kind_are_refused_naming_the_field(
    tenant: Tenant, defined: tuple[Any, Any], key: str, typed: str, says: str
) -> None:
    inbox, contact = defined
    url = f"/api/v1/accounts/{tenant.account.pk}/contacts/{contact.pk}/facts"
    response = tenant.client().post(url, {"inbox": inbox.pk, "key": key, "value": typed}, format="json")
    assert response.status_code == 400
    assert says in response.json()["error"]["fields"]["value"][0]
    assert not Fact.objects.filter(key=key).exists()


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Our budget is $1,250 for the whole job", {"budget": "1250.00 $"}),
        ("Number of units: 12 and they are all upstairs", {"units": "12"}),
        ("The service address is 42 Elm Street, Springfield, IL 62704. Thanks", {
            "service_address": "42 Elm Street, Springfield, IL 62704"}),
        ("My work phone is 312 555 0199, reference 88412", {"work_phone": "+13125550199"}),
        ("Billing email: ap@northwind.example please", {"billing_email": "ap@northwind.example"}),
        ("I have no budget yet, and the address I'll send later", {}),
    ],
)  # fmt: skip
def test_the_ai_reads_each_kind_after_its_label(text: str, found: dict[str, str]) -> None:
    definitions = {key: Definition(key, label, value_type=kind) for key, (label, kind) in KINDS.items()}
    facts = ENGINE.analyze(text, definitions=definitions, region="US").facts
    assert {f.key: f.value for f in facts if f.key in KINDS and f.key != "visit_day"} == found


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "answer", "stored"),
    [
        ("service_address", "42 Elm Street, Springfield, IL 62704", "42 Elm Street, Springfield, IL 62704"),
        ("budget", "around $800", "800.00 $"),
        ("service_address", "I don't have it with me", None),  # not an address: nothing is taken
        ("budget", "not sure yet, maybe later", None),
    ],
)
def test_an_answer_to_the_ais_question_is_the_asked_detail(
    tenant: Tenant, defined: tuple[Any, Any], key: str, answer: str, stored: str | None
) -> None:
    from ai_agent.tasks import analyze_message
    from inbox.services import send_message

    inbox, _contact = defined
    first = inbound(tenant.account, inbox, "+13125550188", "We need a quote for a new water heater")
    label = KINDS[key][0].lower()
    send_message(account=tenant.account, conversation=first.conversation, body=f"Could you tell me your {label}?",
                 sender_type="ai", metadata={"ai_action": "ask", "key": key})  # fmt: skip
    reply = inbound(tenant.account, inbox, "+13125550188", answer)
    assert analyze_message.run(tenant.account.pk, reply.pk) == "analyzed"
    fact = Fact.objects.filter(key=key, status="active").first()
    assert (fact.value if fact else None) == stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answer", "stored"),
    [
        ("Bradford White 40 gallon gas", "Bradford White 40 gallon gas"),
        ("It's a Rheem Performance Plus 50.", "Rheem Performance Plus 50"),
        ("we have the Navien NPE-240A, thanks", "Navien NPE-240A"),
        ("I don't know, it came with the house", None),
        ("Not sure, I'll check the label tonight", None),
        ("no idea", None),
        ("Can I just talk to a person?", None),
        ("I want to talk to a real person about this", None),  # steers the conversation: not a model
        ("This is getting ridiculous, just send someone over here to look at the heater", None),
    ],
)
def test_a_free_text_answer_to_the_ais_question_is_the_asked_detail(
    tenant: Tenant, answer: str, stored: str | None
) -> None:
    """Free text (a make and model) is taken from a short answer to the AI's own question, without the words around
    it; "I don't know", a question, a request for a person or a complaint is never a value."""
    from ai_agent.tasks import analyze_message
    from inbox.services import send_message
    from memory.services import fact_definition_create

    inbox = InboxFactory(account=tenant.account, name="Installs")
    fact_definition_create(account=tenant.account, actor=tenant.admin, inbox=inbox, key="model",
                           label="Make and model", required_before_handoff=True)  # fmt: skip
    first = inbound(tenant.account, inbox, "+13125550188", "We need a quote for a new water heater")
    send_message(account=tenant.account, conversation=first.conversation, body="Could you tell me your make and model?",
                 sender_type="ai", metadata={"ai_action": "ask", "key": "model"})  # fmt: skip
    reply = inbound(tenant.account, inbox, "+13125550188", answer)
    assert analyze_message.run(tenant.account.pk, reply.pk) == "analyzed"
    fact = Fact.objects.filter(key="model", status="active").first()
    assert (fact.value if fact else None) == stored


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Make and model is Navien NPE-240A", "Navien NPE-240A"),
        ("the model is Trane XR13, installed 2009", "Trane XR13"),
        ("Make and model: Lennox ML180. It's in the basement", "Lennox ML180"),
        ("make and model is something I don't know", None),
        ("I need a new model", None),
    ],
)
def test_free_text_is_read_after_its_label_or_key(text: str, found: str | None) -> None:
    definitions = {"model": Definition("model", "Make and model")}
    facts = {f.key: f.value for f in ENGINE.analyze(text, definitions=definitions, region="US").facts}
    assert facts.get("model") == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Quote to replace the AC at 1200 W Harrison St, Chicago, IL 60607", "1200 W Harrison St, Chicago, IL 60607"),
        ("It is 410 Church St, Evanston, IL 60201", "410 Church St, Evanston, IL 60201"),
        ("We have 3 units, 2 bathrooms each, budget around $5,000", None),
        ("Order 55821 from 2023, policy PN-91120", None),
        ("Call 312 555 0199 tomorrow", None),
    ],
)
def test_a_whole_street_address_needs_no_label(text: str, found: str | None) -> None:
    definitions = {"service_address": Definition("service_address", "Service address", value_type="address")}
    facts = {f.key: f.value for f in ENGINE.analyze(text, definitions=definitions, region="US").facts}
    assert facts.get("service_address") == found

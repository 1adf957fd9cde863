"""The local engine on realistic customer messages."""

from __future__ import annotations

import pytest

from ai_agent.engines.local import LocalEngine
from memory.definitions import BUILTINS, Definition

ENGINE = LocalEngine()
DEFINITIONS = {
    **BUILTINS,
    "policy_number": Definition("policy_number", "Policy number", pattern=r"PN-\d{4,8}"),
    "invoice_number": Definition("invoice_number", "Invoice number"),
}


def facts(text: str) -> dict[str, str]:
    return {f.key: f.value for f in ENGINE.analyze(text, definitions=DEFINITIONS, region="US").facts}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Rosa Diaz, 312 555 0188, policy PN-55321",
            {"name": "Rosa Diaz", "phone": "+13125550188", "policy_number": "PN-55321"},
        ),
        (
            "My name is Ben Carter, email ben.carter@Example.com",
            {"name": "Ben Carter", "email": "ben.carter@example.com"},
        ),
        ("I was charged twice on invoice number INV-20931", {"invoice_number": "INV-20931"}),
        ("hi this is Maria, call me at (773) 555-0199", {"name": "Maria", "phone": "+17735550199"}),
        ("I am Not happy with the service", {}),
        ("is the blue sofa in stock?", {}),
    ],
)
def test_facts(text: str, expected: dict[str, str]) -> None:
    assert facts(text) == expected


def test_facts_only_for_keys_the_inbox_remembers() -> None:
    found = ENGINE.analyze("PN-12345, 312 555 0188", definitions={"phone": BUILTINS["phone"]}, region="US").facts
    assert [f.key for f in found] == ["phone"]


@pytest.mark.parametrize(
    ("text", "label", "urgent", "intents"),
    [
        ("Hi, my basement is flooding and nobody answers the phone!!", "negative", True, {"urgent", "safety"}),
        ("Thanks, that fixed it!", "positive", False, {"thanks"}),
        ("Can I talk to a real person?", "neutral", False, {"asks_for_human"}),
        ("Please cancel my subscription", "negative", False, {"cancel"}),
        ("The app is down again, this is unacceptable", "negative", True, {"outage", "complaint"}),
    ],
)
def test_sentiment_intents_urgency(text: str, label: str, urgent: bool, intents: set[str]) -> None:
    analysis = ENGINE.analyze(text, definitions=DEFINITIONS, region="US")
    got = "positive" if analysis.sentiment >= 0.05 else "negative" if analysis.sentiment <= -0.05 else "neutral"
    assert (got, analysis.urgent, analysis.intents) == (label, urgent, intents)


def test_long_texts_are_scored_per_sentence() -> None:
    angry = "The technician never showed up. I am furious. This is awful service."
    assert ENGINE.sentiment(angry + " Thanks.") == ENGINE.sentiment(angry)  # a sign-off does not soften it
    assert ENGINE.sentiment(angry) < -0.3


def test_dates_for_date_facts_with_dateparser() -> None:
    from datetime import date, timedelta

    from memory.definitions import value_clean

    visit = Definition("visit_date", "Visit date", value_type="date")
    definitions = {**BUILTINS, "visit_date": visit}
    engine = LocalEngine()

    def day(text: str) -> str | None:
        found = {f.key: f.value for f in engine.analyze(text, definitions=definitions, region="US").facts}
        return found.get("visit_date")

    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert day("Could someone come tomorrow morning?") == tomorrow
    assert day("The leak started on 3 December 2026") == "2026-12-03"
    assert day("Book me in for 2027-01-15 please") == "2027-01-15"
    assert day("I may need help with my sink") is None  # "may" alone is not a date
    assert day("Order ORD-12345 is late") is None
    assert value_clean(visit, "15 January 2027", region="US") == "2027-01-15"
    with pytest.raises(Exception, match="not a date"):
        value_clean(visit, "whenever suits", region="US")


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("Can I talk to a real person?", True),
        ("I want to speak to someone", True),
        ("Can someone call me back?", False),  # a calm call-back request is a next step (callback), not this
        ("Could you call me at 312 555 0142?", False),
        ("Can someone come tomorrow to fix it?", False),  # a visit, not a person on the line
        ("Rosa Diaz, call me on 312 555 0188", False),  # a number given, not a request
        ("Our agent said it was fine", False),
    ],
)
def test_asking_for_a_person(text: str, asks: bool) -> None:
    assert ("asks_for_human" in ENGINE.analyze(text, definitions=DEFINITIONS, region="US").intents) is asks


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love the app, but the export crashes every time", "negative"),
        ("My refund has not arrived", "negative"),
        ("I was charged twice on my last invoice", "negative"),
        ("??", "negative"),
        ("ok sure, please go ahead", "neutral"),
        ("I would like to book a visit", "neutral"),
        ("Thanks, we'll pass for now", "neutral"),
        ("Great service last time. Today the heater is broken and nobody came. Please help.", "negative"),
        ("There is a smell of gas in the hallway", "negative"),
        # a problem report in calm words, unless the customer plays it down
        ("The furnace keeps shutting off after ten minutes", "negative"),
        ("Hello, the toilet in the guest bathroom is clogged", "negative"),
        ("The technician was supposed to come Monday", "negative"),
        ("Minor thing, the bathroom tap drips a little, no hurry", "neutral"),
        # the customer's own name, a salutation, a sign-off and idioms carry no mood
        ("Hi, Grace Liu here. How do I reset the thermostat schedule?", "neutral"),
        ("Hi Sam,\n\nThe upstairs radiator still won't heat up.\n\nBest regards,\nOliver Grant", "negative"),
        ("Do you replace sewer lines as well?", "neutral"),
        ("Great, I'll call tomorrow morning", "neutral"),
        ("Thanks for the quote, but we'll hold off this year", "neutral"),
        ("Me han cobrado dos veces la factura", "negative"),
        ("¡Muchas gracias, la instalación quedó perfecta!", "positive"),
    ],
)
def test_sentiment_a_support_team_agrees_with(text: str, label: str) -> None:
    score = ENGINE.sentiment(text)
    assert ("positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral") == label, score


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Derek Olsen here, the furnace keeps shutting off", "Derek Olsen"),
        ("Hi, Grace Liu here. How do I reset it?", "Grace Liu"),
        ("It's Thursday and still nobody has shown up", None),
    ],
)
def test_names_introduced_with_here_and_never_a_weekday(text: str, name: str | None) -> None:
    assert facts(text).get("name") == name


@pytest.mark.parametrize(
    ("text", "urgent"),
    [
        ("I need someone here right now, water everywhere", True),
        ("I can't find the number right now", False),
        ("Not interested right now, maybe next year", False),
    ],
)
def test_right_now_is_urgent_only_in_a_request(text: str, urgent: bool) -> None:
    assert ENGINE.analyze(text, definitions=DEFINITIONS, region="US").urgent is urgent

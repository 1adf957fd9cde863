"""Messages in other languages are detected, stored with their language, and scored honestly: the English
lexicon is not applied where it does not fit (a neutral unless the customer-service layer sees a problem, a
threat or delight in Spanish or French); a message too short to tell is read as the usual English."""

from __future__ import annotations

import pytest

from ai_agent.engines.local import SERVICE_NEGATIVE_FLOOR, LocalEngine
from ai_agent.language import detect_language
from ai_agent.tasks import analyze_message
from memory.models import SentimentReading
from tests.conftest import Tenant
from tests.factories import InboxFactory, inbound

ENGINE = LocalEngine()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("My order has not arrived yet and I need it today", "en"),
        ("Hola, mi pedido no ha llegado todavía", "es"),
        ("Bonjour, je voudrais parler à quelqu'un du service client", "fr"),
        ("Meine Bestellung ist immer noch nicht angekommen", "de"),
        ("ok", ""),  # too short to tell
        ("PN-12345", ""),
    ],
)
def test_the_language_is_detected_or_left_undetermined(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_scores_are_honest_outside_english() -> None:
    # The English lexicon read "no" as a negative word: a guess. Now a reported problem reads negative because it
    # is a problem, a polite refusal does not, and a language without any rules here reads neutral.
    assert ENGINE.sentiment("Hola, el calentador no enciende desde ayer") == SERVICE_NEGATIVE_FLOOR
    assert ENGINE.sentiment("No, gracias, por ahora no necesitamos nada") == 0.0
    assert ENGINE.sentiment("Ça ne marche plus depuis hier soir") == SERVICE_NEGATIVE_FLOOR
    assert ENGINE.sentiment("Merci, c'est parfait, tout fonctionne") > 0
    assert ENGINE.sentiment("Das ist eine schreckliche Katastrophe, ich bin wütend") == 0.0  # no model for German
    assert ENGINE.sentiment("Hay olor a gas en la cocina, ayuda") < SERVICE_NEGATIVE_FLOOR  # safety, any language
    assert ENGINE.sentiment("This is a terrible disaster and I am furious") < -0.5  # English as before


@pytest.mark.django_db
def test_the_reading_and_the_message_api_carry_the_language(tenant: Tenant) -> None:
    inbox = InboxFactory(account=tenant.account)
    message = inbound(tenant.account, inbox, "+15550109090", "Bonjour, ma chaudière ne démarre pas ce matin")
    assert analyze_message.run(tenant.account.pk, message.pk) == "analyzed"
    reading = SentimentReading.objects.get(message=message)
    assert (reading.language, reading.label) == ("fr", "negative")
    url = f"/api/v1/accounts/{tenant.account.pk}/conversations/{message.conversation_id}/messages"
    [api] = tenant.client("admin").get(url).json()["results"]
    assert api["sentiment"]["language"] == "fr" and api["sentiment"]["label"] == "negative"

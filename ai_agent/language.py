"""Which language a customer wrote in (lingua, low-accuracy mode: trigram models, about 20 MB, well under a
millisecond a message). A message too short or too mixed to tell gets "" (undetermined): it is read like the
account's usual language. The languages are the ones small businesses here write in; adding one is one line."""

from __future__ import annotations

import functools
from typing import Any

DETECTED = ("ENGLISH", "SPANISH", "FRENCH", "GERMAN", "PORTUGUESE", "ITALIAN")
MIN_CONFIDENCE = 0.6


@functools.cache
def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in DETECTED]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detect_language(text: str) -> str:
    """ISO 639-1 code ("en", "es", ...) or "" when the text does not say clearly."""
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    if len(words) < 2:
        return ""
    values = _detector().compute_language_confidence_values(text[:2000])
    if not values or values[0].value < MIN_CONFIDENCE:
        return ""
    return str(values[0].language.iso_code_639_1.name.lower())

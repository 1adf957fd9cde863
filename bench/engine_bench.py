"""Local engine throughput: customer messages analyzed per second on one core (sentiment, facts, intents).

    .venv/bin/python bench/engine_bench.py

Baseline in the same run: VADER's polarity score alone on the same messages (the floor of any analysis).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MESSAGES = [
    "Hi, my basement is flooding and nobody answers the phone!!",
    "Rosa Diaz, 312 555 0188, policy PN-55321",
    "My name is Ben Carter, email ben.carter@example.com. Could you quote a tankless heater?",
    "I was charged twice on invoice number INV-20931, this is ridiculous. Please fix it.",
    "Thanks, that fixed it!",
    "Can I talk to a real person please",
    "What are your opening hours on Saturday?",
    "The technician never showed up. I am furious. This is awful service. Thanks.",
]
ROUNDS = 400


def rate(call) -> float:  # type: ignore[no-untyped-def]
    for text in MESSAGES:
        call(text)
    started = time.perf_counter()
    for _ in range(ROUNDS):
        for text in MESSAGES:
            call(text)
    return ROUNDS * len(MESSAGES) / (time.perf_counter() - started)


def main() -> None:
    import django

    django.setup()
    from ai_agent.engines.local import LocalEngine
    from memory.definitions import BUILTINS, Definition

    engine = LocalEngine()
    definitions = {
        **BUILTINS,
        "policy_number": Definition("policy_number", "Policy number", pattern=r"PN-\d{4,8}"),
        "invoice_number": Definition("invoice_number", "Invoice number"),
    }
    vader = engine._vader  # the baseline is the library call the engine builds on
    baseline = rate(lambda text: vader.polarity_scores(text))
    full = rate(lambda text: engine.analyze(text, definitions=definitions, region="US"))
    # An inbox that also remembers a date: texts naming a day ("Saturday" here) go through dateparser's search.
    dated = {**definitions, "visit_date": Definition("visit_date", "Visit date", value_type="date")}
    with_dates = rate(lambda text: engine.analyze(text, definitions=dated, region="US"))
    print(f"{len(MESSAGES) * ROUNDS} messages per measurement, one process")
    print(f"{'analysis':<52} {'messages/s':>10} {'vs baseline':>11}")
    print(f"{'baseline: VADER polarity only':<52} {baseline:>10.0f} {1.0:>10.2f}x")
    print(f"{'local engine: sentiment + facts + intents':<52} {full:>10.0f} {full / baseline:>10.2f}x")
    print(f"{'local engine, with a date fact (dateparser)':<52} {with_dates:>10.0f} {with_dates / baseline:>10.2f}x")


if __name__ == "__main__":
    main()

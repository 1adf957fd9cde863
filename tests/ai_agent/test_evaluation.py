"""The labelled evaluation set through the real pipeline: the local engine must keep its targets."""

from __future__ import annotations

import json

import pytest

from ai_agent.evaluation import DATA, evaluate
from memory.models import Fact

pytestmark = pytest.mark.django_db


def test_the_set_is_what_it_claims() -> None:
    data = json.loads(DATA.read_text())
    conversations = data["conversations"]
    assert len(conversations) >= 60
    assert {c["inbox"] for c in conversations} == {"support", "sales", "billing"}
    assert len({c["id"] for c in conversations}) == len(conversations)
    assert sum(c["expected"]["handoff"] for c in conversations) >= 20
    assert {c["expected"]["sentiment"] for c in conversations} == {"positive", "neutral", "negative"}


def test_local_engine_meets_its_targets() -> None:
    report = evaluate()
    assert report.engine == "local/1" and report.conversations >= 60
    assert report.f1 >= 0.9, report.misses
    # The first 60 predate the handoff classes of docs/ai.md: they hand every sales lead to a person, where the
    # shipped rules (and the fresh set) keep a calm request in an inbox that requires nothing with the AI.
    assert report.handoff_accuracy >= 0.85, report.misses
    assert Fact.objects.count() == 0  # the evaluation leaves nothing behind


def test_the_fresh_set_is_split_and_keeps_its_floors() -> None:
    """Floors that catch regressions, not the targets (docs/ai.md has the figures); test is never tuned on."""
    from ai_agent.evaluation import DATA_V2

    data = json.loads(DATA_V2.read_text())
    conversations = data["conversations"]
    splits = {c["split"] for c in conversations}
    assert splits == {"dev", "test"}
    # what issue 13 asks of it: 200+, 40+ across channels, 30+ in Spanish or French, every message labelled
    assert len(conversations) >= 200
    crossing = [c for c in conversations if len({m["channel"] for m in c["messages"]}) > 1]
    assert len(crossing) >= 40
    assert sum(bool({"es", "fr"} & set(c["tags"])) for c in conversations) >= 30
    assert all(m.get("sentiment") in {"positive", "neutral", "negative"} for c in conversations for m in c["messages"])
    assert {"free_text", "signoff", "numbers", "emergency", "threat", "decline"} <= {t for c in conversations
                                                                                   for t in c["tags"]}  # fmt: skip
    assert len({c["id"] for c in data["conversations"]}) == len(data["conversations"])
    for split in ("dev", "test"):
        report = evaluate(DATA_V2, split=split)
        assert report.conversations >= 20
        assert report.f1 >= 0.9, report.misses
        assert report.message_sentiment_agreement >= 0.8, report.misses
        assert report.handoff_accuracy >= 0.85, report.misses
        assert report.repeated_questions == 0, report.misses

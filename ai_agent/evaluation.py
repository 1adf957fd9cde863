"""Evaluation of the AI on a labelled set of conversations (tests/data/ai_eval.json): fact extraction precision
and recall, sentiment agreement, and handoff-decision accuracy, through the real pipeline (memory services, the
agent's rules) inside one transaction that is rolled back, so nothing is left behind."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from accounts.models import Account, Role, User
from accounts.services import account_create, member_add
from contacts.services import contact_resolve
from inbox.services import inbox_create, inbox_member_add, receive_message
from memory.models import Fact, Handoff, SentimentReading
from memory.services import fact_definition_create

from .agent import agent_turn
from .models import AgentSettings, AnswerMode, KnowledgeSnippet
from .tasks import read_message

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "ai_eval.json"


@dataclass
class Report:
    engine: str = ""
    conversations: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    sentiment_agree: int = 0
    handoff_correct: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positive + self.false_negative
        return self.true_positive / expected if expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def sentiment_agreement(self) -> float:
        return self.sentiment_agree / self.conversations if self.conversations else 0.0

    @property
    def handoff_accuracy(self) -> float:
        return self.handoff_correct / self.conversations if self.conversations else 0.0

    def lines(self) -> list[str]:
        return [
            f"engine {self.engine}, {self.conversations} conversations",
            f"facts: precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f} "
            f"({self.true_positive} right, {self.false_positive} wrong or extra, {self.false_negative} missed)",
            f"sentiment agreement (last message): {self.sentiment_agreement:.3f}",
            f"handoff decision accuracy: {self.handoff_accuracy:.3f}",
        ]


class _Rollback(Exception):
    pass


def evaluate(path: Path = DATA) -> Report:
    data = json.loads(path.read_text())
    report = Report()
    try:
        with transaction.atomic():
            _run(data, report)
            raise _Rollback
    except _Rollback:
        pass
    return report


def _run(data: dict[str, Any], report: Report) -> None:
    owner = User.objects.create_user(email="ai-eval-owner@example.invalid", password=None)
    account: Account = account_create(name="AI evaluation", owner=owner)
    agent, _ = member_add(account=account, actor=owner, email="ai-eval-agent@example.invalid", role=Role.AGENT)
    inboxes = {}
    for name, spec in data["inboxes"].items():
        inbox = inbox_create(account=account, actor=owner, name=name.title())
        inbox_member_add(account=account, actor=owner, inbox=inbox, user=agent.user)
        for definition in spec["definitions"]:
            fact_definition_create(account=account, actor=owner, inbox=inbox, **definition)
        for question, answer in spec["knowledge"]:
            KnowledgeSnippet.objects.create(account=account, inbox=inbox, question=question, answer=answer)
        AgentSettings.objects.create(account=account, inbox=inbox, enabled=True, answer_mode=AnswerMode.ALWAYS)
        inboxes[name] = inbox
    for case in data["conversations"]:
        inbox = inboxes[case["inbox"]]
        contact = contact_resolve(account=account, kind="webchat", raw_address=f"eval-{case['id']}")
        message = None
        for text in case["messages"]:
            message = receive_message(account=account, inbox=inbox, contact=contact, channel="webchat", body=text)
            if message.conversation.handled_by != "ai":
                read_message(message)
                continue
            analysis = read_message(message)
            report.engine = analysis.engine
            agent_turn(account=account, message=message, analysis=analysis)
        assert message is not None
        _score(report, case, contact, message)


def _score(report: Report, case: dict[str, Any], contact: Any, last: Any) -> None:
    report.conversations += 1
    expected = {k: v for k, v in case["expected"]["facts"].items()}
    found = dict(Fact.objects.filter(contact=contact, status="active", author_type="ai").values_list("key", "value"))
    for key, value in found.items():
        if expected.get(key, "").casefold() == value.casefold():
            report.true_positive += 1
        else:
            report.false_positive += 1
            report.misses.append(f"{case['id']}: extra or wrong {key}={value!r}")
    for key, value in expected.items():
        if found.get(key, "").casefold() != value.casefold():
            report.false_negative += 1
            report.misses.append(f"{case['id']}: missed {key}={value!r}")
    reading = SentimentReading.objects.filter(message=last).first()
    if reading is not None and reading.label == case["expected"]["sentiment"]:
        report.sentiment_agree += 1
    else:
        got = reading.label if reading else None
        report.misses.append(f"{case['id']}: sentiment {got}, expected {case['expected']['sentiment']}")
    handed_off = Handoff.objects.filter(conversation=last.conversation).exists()
    if handed_off == case["expected"]["handoff"]:
        report.handoff_correct += 1
    else:
        report.misses.append(f"{case['id']}: handoff {handed_off}, expected {case['expected']['handoff']}")

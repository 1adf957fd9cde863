"""The small interface every AI engine implements (analyze a message; write the conversation note; write a
handoff summary; decide the agent's next reply or action), and the plain data it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from inbox.models import Conversation
    from memory.definitions import Definition
    from memory.selectors import Recall

    from ..models import AgentSettings


@dataclass(frozen=True)
class ExtractedFact:
    key: str
    value: str
    confidence: float


@dataclass
class Analysis:
    """What one customer message says beyond its words."""

    sentiment: float  # -1..1
    facts: list[ExtractedFact] = field(default_factory=list)
    intents: set[str] = field(default_factory=set)  # asks_for_human, cancel, complaint, urgent, outage, thanks
    urgent: bool = False
    engine: str = ""  # the engine that produced it (a fallback names itself)
    timed_out: list[str] = field(default_factory=list)  # definitions whose admin pattern ran out of time (skipped)
    language: str | None = None  # ISO 639-1 of the message, "" undetermined; None: the engine did not detect it


@dataclass
class NoteDraft:
    need: str
    status: str
    next_step: str
    open_questions: list[str] = field(default_factory=list)
    engine: str = ""


@dataclass
class HandoffDraft:
    """What a person taking over reads first: the story so far in a few sentences, and what to do next."""

    summary: str
    next_step: str
    engine: str = ""


@dataclass(frozen=True)
class Decision:
    action: str  # "reply", "ask", "handoff" or "none"
    text: str = ""
    reason: str = ""
    key: str = ""  # the fact asked for
    confirm: bool = False  # asking whether a stale value still holds, not for a new one


@dataclass(frozen=True)
class TurnContext:
    """Everything a turn of the agent may look at (recall() of the conversation's inbox, and its settings)."""

    memory: Recall
    conversation: Conversation
    analysis: Analysis
    settings: AgentSettings
    text: str
    knowledge: str | None
    at: datetime


class Engine(Protocol):
    name: str  # with its version, e.g. "local/1": stored as the author of what it writes

    def analyze(self, text: str, *, definitions: dict[str, Definition], region: str) -> Analysis: ...

    def compose_note(self, memory: Recall) -> NoteDraft: ...

    def compose_handoff(self, memory: Recall, *, reason: str) -> HandoffDraft: ...

    def decide(self, turn: TurnContext) -> Decision: ...

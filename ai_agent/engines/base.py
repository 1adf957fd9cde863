"""The small interface every AI engine implements, and the plain data it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from memory.definitions import Definition
    from memory.selectors import Recall


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


@dataclass
class NoteDraft:
    need: str
    status: str
    next_step: str
    open_questions: list[str] = field(default_factory=list)
    engine: str = ""


class Engine(Protocol):
    name: str  # with its version, e.g. "local/1": stored as the author of what it writes

    def analyze(self, text: str, *, definitions: dict[str, Definition], region: str) -> Analysis: ...

    def compose_note(self, memory: Recall) -> NoteDraft: ...

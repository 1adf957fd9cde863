"""Report the AI's fact extraction, sentiment and handoff figures on the labelled conversations."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ai_agent.evaluation import evaluate


class Command(BaseCommand):
    help = "Evaluate the AI engine on tests/data/ai_eval.json (nothing is kept in the database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--misses", action="store_true", help="list every disagreement")

    def handle(self, *args: Any, misses: bool, **options: Any) -> None:
        report = evaluate()
        for line in report.lines():
            self.stdout.write(line)
        if misses:
            for miss in report.misses:
                self.stdout.write(f"  {miss}")

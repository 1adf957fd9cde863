"""Report the AI's fact extraction, sentiment and handoff figures on the labelled conversations."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ai_agent.evaluation import DATA_V2, evaluate


class Command(BaseCommand):
    help = "Evaluate the AI engine on the labelled sets in tests/data (nothing is kept in the database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--misses", action="store_true", help="list every disagreement")
        parser.add_argument(
            "--set", choices=["own", "fresh"], default="own", help="own: the first 60 (fitted); fresh: dev and test"
        )

    def handle(self, *args: Any, misses: bool, set: str, **options: Any) -> None:
        runs = [("own", evaluate())] if set == "own" else [
            (split, evaluate(DATA_V2, split=split)) for split in ("dev", "test")
        ]  # fmt: skip
        for name, report in runs:
            self.stdout.write(f"== {name} ==")
            for line in report.lines() + (report.class_lines() if report.classes else []):
                self.stdout.write(line)
            if misses:
                for miss in report.misses:
                    self.stdout.write(f"  {miss}")

"""Admins' fact patterns run under a time budget: a pattern is the admin's own text, and a catastrophic one
(`(a+)+$`) must cost a message a fraction of a second, never a worker for a minute. The `regex` module stops a
match after `PATTERN_TIMEOUT` seconds; the caller skips that fact and the admin is told (audit log)."""

from __future__ import annotations

import regex

PATTERN_TIMEOUT = 0.1  # seconds per pattern and text
FLAGS = regex.IGNORECASE | regex.VERSION0  # the syntax of Python's `re`


class PatternTimeout(Exception):
    def __init__(self, pattern: str) -> None:
        super().__init__(f"The pattern {pattern!r} took longer than {PATTERN_TIMEOUT} s on one message.")
        self.pattern = pattern


def pattern_compile(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, FLAGS)


def pattern_search(pattern: str, text: str) -> regex.Match[str] | None:
    try:
        return pattern_compile(pattern).search(text, timeout=PATTERN_TIMEOUT)
    except TimeoutError:
        raise PatternTimeout(pattern) from None


def pattern_fullmatch(pattern: str, text: str) -> regex.Match[str] | None:
    try:
        return pattern_compile(pattern).fullmatch(text, timeout=PATTERN_TIMEOUT)
    except TimeoutError:
        raise PatternTimeout(pattern) from None

"""Text as PostgreSQL will store it: it refuses the NUL character (in text and in JSON) and lone UTF-16
surrogates. Every stored text passes through here (a pre_save receiver for our models, the raw webhook insert),
replacing each refused character with U+FFFD, so a customer's message is kept, with a mark where the character
was, rather than lost to a database error."""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_REFUSED = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    return _REFUSED.sub(REPLACEMENT, value) if _REFUSED.search(value) else value


def clean_json(value: Any) -> Any:
    """The same for every string in a JSON value, keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)) if isinstance(k, str) else k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def spreadsheet_cell(value: object) -> str:
    """A CSV cell as text a spreadsheet shows and never runs: one starting with = + - @ (or a tab or CR, which
    some spreadsheets skip before reading a formula) is prefixed with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

"""Which facts an inbox remembers: the admins' definitions plus the built-in contact details."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import regex

from accounts.errors import ServiceError
from accounts.models import Account
from contacts.addresses import normalize_email, normalize_phone
from inbox.models import Inbox

from .kinds import address_clean, money_clean, number_clean
from .models import FactDefinition
from .patterns import PatternTimeout, pattern_compile, pattern_fullmatch


@dataclass(frozen=True)
class Definition:
    key: str
    label: str
    pattern: str = ""
    shared: bool = False
    required_before_handoff: bool = False
    builtin: bool = False
    description: str = ""
    value_type: str = "text"  # memory.kinds.KINDS: date (YYYY-MM-DD), number, money, address, phone, email
    shelf_life_days: int | None = None  # after this, a value is stale: the AI confirms it before relying on it


# Contact details are shared by default: every team may greet the customer by name and reach them.
BUILTINS: dict[str, Definition] = {
    "name": Definition("name", "Name", shared=True, builtin=True),
    "phone": Definition("phone", "Phone", shared=True, builtin=True),
    "email": Definition("email", "Email", shared=True, builtin=True),
}


def _from_row(row: FactDefinition) -> Definition:
    return Definition(
        key=row.key,
        label=row.label,
        pattern=row.pattern,
        shared=row.shared,
        required_before_handoff=row.required_before_handoff,
        description=row.description,
        value_type=row.value_type,
        shelf_life_days=row.shelf_life_days,
    )


def definitions_for(*, account: Account, inbox: Inbox) -> dict[str, Definition]:
    """Every key the inbox remembers: built-ins first, then the admins' own (which may override a built-in)."""
    rows = FactDefinition.objects.filter(account=account, inbox=inbox).order_by("created_at", "id")
    return definitions_from_rows(rows)  # in the order the admins added them: the AI asks in that order


def definitions_from_rows(rows: Iterable[FactDefinition]) -> dict[str, Definition]:
    return {**BUILTINS, **{row.key: _from_row(row) for row in rows}}


def definition_get(*, account: Account, inbox: Inbox, key: str) -> Definition | None:
    row = FactDefinition.objects.filter(account=account, inbox=inbox, key=key).first()
    return _from_row(row) if row is not None else BUILTINS.get(key)


def value_clean(definition: Definition | None, value: str, *, region: str) -> str:
    """The value as stored, or ServiceError saying why it does not fit the definition."""
    value = " ".join(str(value).split())
    if not value:
        raise ServiceError("A fact needs a value.", field="value")
    if len(value) > 500:
        raise ServiceError("A fact's value is at most 500 characters.", field="value")
    if definition is None:
        return value
    if definition.key == "phone" and definition.builtin:
        return normalize_phone(value, region=region)
    if definition.key == "email" and definition.builtin:
        return normalize_email(value)
    if definition.value_type == "date":
        return date_clean(value, label=definition.label)
    if definition.value_type in KIND_CLEANERS:
        value = KIND_CLEANERS[definition.value_type](value, definition.label, region)
    try:
        fits = not definition.pattern or pattern_fullmatch(definition.pattern, value) is not None
    except PatternTimeout:
        raise ServiceError(
            f"The format of {definition.label} (pattern {definition.pattern}) took too long to check; "
            "an admin should simplify the pattern.",
            field="value",
        ) from None
    if not fits:
        raise ServiceError(
            f"{value!r} does not match the format of {definition.label} (pattern {definition.pattern}).",
            field="value",
        )
    return value


KIND_CLEANERS: dict[str, Callable[[str, str, str], str]] = {
    "number": lambda value, label, region: number_clean(value, label=label),
    "money": lambda value, label, region: money_clean(value, label=label),
    "address": lambda value, label, region: address_clean(value, label=label),
    "phone": lambda value, label, region: normalize_phone(value, region=region),
    "email": lambda value, label, region: normalize_email(value),
}


def pattern_check(pattern: str) -> str:
    try:
        pattern_compile(pattern)
    except regex.error as exc:
        raise ServiceError(f"The pattern is not a valid regular expression: {exc}.", field="pattern") from None
    return pattern


DATE_SETTINGS = {"PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False}


def date_clean(value: str, *, label: str = "date") -> str:
    """A date as YYYY-MM-DD from what a person writes ("2026-12-03", "3 Dec", "next Tuesday")."""
    import dateparser  # imported when needed: it loads its language data on first use

    parsed = dateparser.parse(value, settings=DATE_SETTINGS)  # type: ignore[arg-type]
    if parsed is None:
        raise ServiceError(f"{value!r} is not a date we can read for {label}.", field="value")
    return parsed.date().isoformat()

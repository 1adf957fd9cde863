"""What kind of value a fact holds, read with well-kept parsers: dates (dateparser), numbers and amounts of money
(price-parser), street addresses (usaddress, US addresses), phones (libphonenumber) and emails
(email-validator). A kind both checks what a person types and tells the AI what to look for in a message."""

from __future__ import annotations

import re
from decimal import Decimal

from accounts.errors import ServiceError

KINDS = [
    ("text", "Text"),
    ("date", "Date"),
    ("number", "Number"),
    ("money", "Amount of money"),
    ("address", "Street address"),
    ("phone", "Phone"),
    ("email", "Email"),
]
KIND_HELP = (
    'date: kept as YYYY-MM-DD ("next Tuesday", "3/12"); number: digits ("1,250" -> 1250); money: an amount and its '
    'currency as written ("$1,250" -> 1250.00 $); address: a US street address; phone: E.164; email: as written.'
)


def _amount(value: str) -> tuple[Decimal, str] | None:
    from price_parser import Price

    price = Price.fromstring(value)
    if price.amount is None:
        return None
    return price.amount, (price.currency or "").strip()


def number_clean(value: str, *, label: str) -> str:
    found = _amount(value)
    if found is None:
        raise ServiceError(f"{value!r} is not a number for {label}.", field="value")
    amount = found[0].normalize()
    return format(amount, "f")


def money_clean(value: str, *, label: str) -> str:
    found = _amount(value)
    if found is None:
        raise ServiceError(
            f"{value!r} is not an amount of money for {label} (e.g. $1,250 or 49.99 EUR).", field="value"
        )
    amount, currency = found
    return f"{amount.quantize(Decimal('0.01'))} {currency}".strip()


ADDRESS_PARTS_KEPT = frozenset(
    {
        "AddressNumber", "AddressNumberPrefix", "AddressNumberSuffix", "StreetNamePreDirectional",
        "StreetNamePreModifier", "StreetNamePreType", "StreetName", "StreetNamePostType",
        "StreetNamePostDirectional", "StreetNamePostModifier", "OccupancyType", "OccupancyIdentifier",
        "SubaddressType", "SubaddressIdentifier", "PlaceName", "StateName", "ZipCode", "USPSBoxType",
        "USPSBoxID",
    }
)  # fmt: skip


_PLACE = frozenset({"PlaceName", "StateName", "ZipCode"})


def address_find(text: str) -> str | None:
    """A street address in `text` (number and street at least), as written, without the words around it."""
    import usaddress

    try:
        tagged, kind = usaddress.tag(text)
    except usaddress.RepeatedLabelError:
        return None
    if kind != "Street Address" or "AddressNumber" not in tagged or "StreetName" not in tagged:
        return None
    street = [part for label, part in tagged.items() if label in ADDRESS_PARTS_KEPT - _PLACE]
    place = [tagged.get("PlaceName", ""), " ".join(p for p in (tagged.get("StateName"), tagged.get("ZipCode")) if p)]
    parts = [" ".join(" ".join(street).split()), *(" ".join(p.split()) for p in place)]
    return ", ".join(p.strip(" ,.") for p in parts if p.strip(" ,.")) or None


_SENTENCE_ENDS = re.compile(r"(?<=[!?])\s+|\.\s+(?=[A-Z])|\n+")
_HOUSE_NUMBER = re.compile(r"(?<![\w.-])\d{1,6}\s+[A-Za-z]")


def address_search(text: str) -> str | None:
    """A street address anywhere in a message ("please come to 1200 W Harrison St, Chicago, IL 60607 on Monday"):
    each sentence is tagged, and only a whole street address counts (a house number, a street name, and a street
    type or a ZIP code), so "3 units, 2 bathrooms" or a phone number is never one."""
    import usaddress

    for sentence in _SENTENCE_ENDS.split(text):
        for start in [m.start() for m in _HOUSE_NUMBER.finditer(sentence)][:5]:
            try:
                tagged, kind = usaddress.tag(sentence[start:])
            except usaddress.RepeatedLabelError:
                continue
            if kind != "Street Address" or not tagged.get("AddressNumber", "").isdigit():
                continue
            zip_code = re.fullmatch(r"\d{5}(?:-\d{4})?", tagged.get("ZipCode", "")) is not None
            if "StreetName" not in tagged or not ("StreetNamePostType" in tagged or zip_code):
                continue
            if "ZipCode" in tagged and not zip_code:
                continue
            found = address_find(sentence[start:])
            if found:
                return found
    return None


def address_clean(value: str, *, label: str) -> str:
    found = address_find(value)
    if found is None:
        raise ServiceError(
            f"{value!r} is not a street address for {label} (a number and a street, e.g. 42 Elm Street, "
            "Springfield, IL 62704).",
            field="value",
        )
    return found

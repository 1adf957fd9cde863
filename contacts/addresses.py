"""Normalizing addresses people and providers type: phones to E.164 (libphonenumber), emails validated with a
lower-case domain (email-validator). The normalized value is the identity key."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from accounts.errors import ServiceError

from .models import IdentityKind

PHONE_KINDS = frozenset({IdentityKind.PHONE, IdentityKind.WHATSAPP})
META_KINDS = frozenset({IdentityKind.MESSENGER, IdentityKind.INSTAGRAM})
WHATSAPP_PREFIX = "whatsapp:"


# How a phone number is written: digits with the separators people use, an optional + and extension. Anything
# else (letters of a reference such as INV-2024-000123, the dots of an IP address) is not a phone, even where
# libphonenumber, which skips what it does not understand, would read one out of it.
_WRITTEN_AS_PHONE = re.compile(r"\+?[\d\s().\-/]+(?:\s*(?:ext\.?|x|#)\s*\d{1,6})?", re.IGNORECASE)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def written_as_phone(text: str) -> bool:
    text = text.strip()
    return bool(_WRITTEN_AS_PHONE.fullmatch(text)) and not _IPV4.fullmatch(text)


def normalize_phone(raw: str, *, region: str) -> str:
    """E.164 for a phone number in any format a person types; numbers without a country code are read in
    `region`. Raises ServiceError naming the problem."""
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX) :]
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not written_as_phone(text):
        raise ServiceError(
            f"{raw!r} is not a phone number: write it with digits, spaces and + ( ) - . only.", field="value"
        )
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise ServiceError(f"{raw!r} is not a phone number.", field="value") from None
    # Possible (right length for its country) rather than valid (assigned range): a business must be able to
    # talk to new ranges and test numbers libphonenumber does not know yet.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise ServiceError(
            f"{raw!r} is not a complete phone number; include the area code (and the country code if it is "
            f"not in {region.upper()}).",
            field="value",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    try:
        return str(validate_email(raw.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ServiceError(f"{raw!r} is not a valid email address: {exc}", field="value") from None


# An address as it appears on mail that was delivered: RFC 5322 allows more than people should type (a quoted local
# part, a domain without a dot, a reserved test domain). Syntax only; the domain is lower-cased.
_ADDR_SPEC = re.compile(
    r'^(?P<local>"(?:[^"\\\r\n]|\\.){1,64}"|[^\s@"<>()\[\],;:\\]{1,64})'
    r'@(?P<domain>[^\s@"<>()\\,;]{1,255})$'
)


def received_email(raw: str) -> tuple[str, str]:
    """The identity value for the sender of an email that arrived, and a note when the address is RFC-valid but
    one a person could not type into a form here (a quoted local part, a dotless or reserved domain): such mail
    is real and is kept, flagged, never refused. Raises ServiceError when it is not an address at all."""
    try:
        return normalize_email(raw), ""
    except ServiceError as strict:
        reason = strict.message.split(": ", 1)[-1]
    try:
        value = str(
            validate_email(
                raw.strip(),
                check_deliverability=False,
                allow_quoted_local=True,
                allow_domain_literal=True,
                globally_deliverable=False,
                test_environment=True,
            ).normalized
        )
    except EmailNotValidError:
        found = _ADDR_SPEC.match(raw.strip())
        if found is None:
            raise ServiceError(f"{raw!r} is not an email address.", field="value") from None
        value = f"{found['local']}@{found['domain'].lower()}"
    return value, f"The sender's address is valid for email but unusual: {reason}"


def normalize_address(kind: str, raw: str, *, region: str) -> str:
    if kind not in IdentityKind.values:
        raise ServiceError(
            f"Unknown identity kind {kind!r}; use one of {', '.join(IdentityKind.values)}.", field="kind"
        )
    if kind in PHONE_KINDS:
        return normalize_phone(raw, region=region)
    if kind == IdentityKind.EMAIL:
        return normalize_email(raw)
    if kind in META_KINDS:
        value = raw.strip()
        if not value.isdigit() or len(value) > 64:
            raise ServiceError(f"A {IdentityKind(kind).label} id is the number Meta gives the person.", field="value")
        return value
    value = raw.strip()
    if not value or len(value) > 320:
        raise ServiceError("A webchat visitor id must be 1 to 320 characters.", field="value")
    return value


def phone_or_none(raw: str, *, region: str) -> str | None:
    """E.164 if `raw` reads as a phone number, else None: for search boxes, where the text may be anything."""
    if sum(ch.isdigit() for ch in raw) < 7:
        return None
    try:
        return normalize_phone(raw, region=region)
    except ServiceError:
        return None

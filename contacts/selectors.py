"""Reads of contacts, scoped to the account."""

from __future__ import annotations

import contextlib
import difflib
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from accounts.errors import ServiceError
from accounts.models import Account, AuditLog
from accounts.tenant_db import index_lookup

from .addresses import normalize_email, phone_or_none
from .models import NAME_SEARCH_CONFIG, Contact, ContactIdentity


def _with_identities(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    return contacts.prefetch_related(Prefetch("identities", queryset=ContactIdentity.objects.order_by("kind", "id")))


def contact_list(*, account: Account, include_merged: bool = False) -> QuerySet[Contact]:
    contacts = Contact.objects.filter(account=account)
    if not include_merged:
        contacts = contacts.filter(merged_into__isnull=True)
    return _with_identities(contacts).order_by("-last_activity_at", "-id")


def contact_get(*, account: Account, contact_id: int, with_identities: bool = True) -> Contact | None:
    """The contact, merged ones included (they answer with a pointer to the contact they were merged into)."""
    contacts = Contact.objects.filter(account=account, pk=contact_id)
    return (_with_identities(contacts) if with_identities else contacts).first()


SEARCH_LIMIT = 1000  # the most recently active matches: a broader search is narrowed by typing more


def contact_search(*, account: Account, query: str) -> QuerySet[Contact]:
    """Contacts matching `query` by name (words or a part of a name), phone in any format, or email."""
    query = query.strip()
    contacts = contact_list(account=account)
    if not query:
        return contacts
    prefixes = prefix_tsquery(query)
    addresses = {query}
    phone = phone_or_none(query, region=account.default_region)
    if phone:
        addresses.add(phone)
    if "@" in query:
        with contextlib.suppress(ServiceError):  # a half-typed email simply matches nothing extra
            addresses.add(normalize_email(query))
    # Two lookups, each on its own index (an OR of them would read every contact), outside the row policy, which
    # keeps the name index out of the plan (as for message search: accounts.tenant_db.index_lookup); the account
    # is in each filter, and the rows are read under the policy below.
    found: set[int] = set()
    with index_lookup():
        if prefixes:  # every typed word is the start of a word of the name: "dan sm" finds "Dana Smith"
            named = (
                Contact.objects.filter(account=account, merged_into__isnull=True)
                .annotate(name_vector=SearchVector("name", config=NAME_SEARCH_CONFIG))
                .filter(name_vector=SearchQuery(prefixes, config=NAME_SEARCH_CONFIG, search_type="raw"))
            )
            some = list(named.order_by().values_list("pk", flat=True)[: SEARCH_LIMIT + 1])
            if len(some) > SEARCH_LIMIT:  # a common start: the most recently active of them
                some = list(named.order_by("-last_activity_at", "-id").values_list("pk", flat=True)[:SEARCH_LIMIT])
            found.update(some)
        found.update(
            ContactIdentity.objects.filter(account=account, value__in=addresses).values_list("contact_id", flat=True)
        )
    return contacts.filter(pk__in=found)


def prefix_tsquery(text: str) -> str:
    """A raw tsquery matching words that start with each typed word ("dan sm" -> "dan:* & sm:*")."""
    words = re.findall(r"\w+", text.lower())[:8]
    return " & ".join(f"{word}:*" for word in words)


def merge_record_list(*, account: Account) -> QuerySet[AuditLog]:
    """The account's contact merges (their audit records, which hold what an undo needs), newest first."""
    return AuditLog.objects.filter(account=account, action="contact.merged").order_by("-created_at", "-id")


def merges_undoable(*, account: Account, merge_ids: list[int]) -> set[int]:
    """Which of these merge records can still be undone: 30 days old at most and not undone yet."""
    from .services import UNDO_WINDOW

    recent = set(
        merge_record_list(account=account)
        .filter(pk__in=merge_ids, created_at__gte=timezone.now() - UNDO_WINDOW)
        .values_list("pk", flat=True)
    )
    undone = AuditLog.objects.filter(account=account, action="contact.unmerged", data__merge__in=list(recent))
    return recent - set(undone.values_list("data__merge", flat=True))


# --- Likely duplicates: the same name with a close phone or email ---------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    contact: Contact
    reason: str  # "same name; phone +13125550101 and +13125550110 differ by one digit"


def _close_phones(a: str, b: str) -> bool:
    """The same number written in another way, or one digit apart (a typo)."""
    da, db = re.sub(r"\D", "", a), re.sub(r"\D", "", b)
    if not da or not db:
        return False
    if da[-7:] == db[-7:]:
        return True
    return len(da) == len(db) and sum(x != y for x, y in zip(da, db, strict=True)) == 1


def _close_emails(a: str, b: str) -> bool:
    """The same mailbox at another domain, or a near-identical one at the same domain."""
    la, _, ha = a.casefold().partition("@")
    lb, _, hb = b.casefold().partition("@")
    if la == lb:
        return True
    return ha == hb and difflib.SequenceMatcher(None, la, lb).ratio() >= 0.8


def likely_duplicates(*, account: Account, contact: Contact, limit: int = 5) -> list[Duplicate]:
    """Other live contacts with the same full name and a close phone or email: the same person written twice,
    for a person to review and merge. One query (identities prefetched)."""
    name = " ".join((contact.name or "").split())
    if len(name.split()) < 2:  # a first name alone is not enough to suggest anything
        return []
    mine = (
        list(contact.identities.all())
        if hasattr(contact, "_prefetched_objects_cache")
        else list(ContactIdentity.objects.filter(contact=contact))
    )
    others = (
        Contact.objects.filter(
            account=account,
            name__iregex=r"^\s*" + r"\s+".join(re.escape(word) for word in name.split()) + r"\s*$",
            merged_into__isnull=True,
        )
        .exclude(pk=contact.pk)
        .prefetch_related("identities")[:20]
    )
    found: list[Duplicate] = []
    for other in others:
        for one in mine:
            theirs = [i for i in other.identities.all() if i.kind == one.kind]
            if one.kind in ("phone", "whatsapp"):
                close = next((i for i in theirs if i.value != one.value and _close_phones(one.value, i.value)), None)
            elif one.kind == "email":
                close = next((i for i in theirs if i.value != one.value and _close_emails(one.value, i.value)), None)
            else:
                close = None
            if close is not None:
                found.append(Duplicate(other, f"same name; {one.kind} {one.value} and {close.value} are close"))
                break
        if len(found) >= limit:
            break
    return found

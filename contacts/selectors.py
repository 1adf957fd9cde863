"""Reads of contacts, scoped to the account."""

from __future__ import annotations

import contextlib
import re

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.errors import ServiceError
from accounts.models import Account, AuditLog

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


def contact_search(*, account: Account, query: str) -> QuerySet[Contact]:
    """Contacts matching `query` by name (words or a part of a name), phone in any format, or email."""
    query = query.strip()
    contacts = contact_list(account=account)
    if not query:
        return contacts
    matches = Q()
    prefixes = prefix_tsquery(query)
    if prefixes:  # every typed word is the start of a word of the name: "dan sm" finds "Dana Smith"
        matches |= Q(name_vector=SearchQuery(prefixes, config=NAME_SEARCH_CONFIG, search_type="raw"))
    addresses = {query}
    phone = phone_or_none(query, region=account.default_region)
    if phone:
        addresses.add(phone)
    if "@" in query:
        with contextlib.suppress(ServiceError):  # a half-typed email simply matches nothing extra
            addresses.add(normalize_email(query))
    identity_contacts = ContactIdentity.objects.filter(account=account, value__in=addresses).values("contact_id")
    matches |= Q(pk__in=identity_contacts)
    return contacts.annotate(name_vector=SearchVector("name", config=NAME_SEARCH_CONFIG)).filter(matches)


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

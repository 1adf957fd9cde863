"""Writes to contacts: resolve an address to exactly one contact, create, edit, add/remove identities, merge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import ForeignKey
from django.utils import timezone

from accounts.errors import Conflict, ServiceError
from accounts.locks import advisory_xact_lock, retry_transaction
from accounts.models import Account, AuditLog, User
from accounts.services import audit_log_record

from .addresses import PHONE_KINDS, normalize_address, received_email
from .models import Contact, ContactIdentity, IdentityKind


def _lock_address(account: Account, value: str) -> None:
    # Keyed on the value alone (not the kind): a phone and a WhatsApp identity with one number are one person.
    advisory_xact_lock(f"contact-address:{account.pk}:{value}")


def contact_resolve(*, account: Account, kind: str, raw_address: str, name: str | None = None) -> Contact:
    """The contact reached at this address, created if there is none.

    Safe under concurrency: two workers resolving the same new number make one contact. A phone number known
    as the other phone-like kind (SMS vs WhatsApp) joins that contact. `name` fills an empty name only:
    what the team typed wins over a provider's profile name. An address that is not one is refused (ServiceError)
    before anything is written.
    """
    value = normalize_address(kind, raw_address, region=account.default_region)
    return _contact_at(account=account, kind=kind, value=value, name=name)


def contact_for_mail(*, account: Account, raw_address: str, name: str | None = None) -> tuple[Contact, str]:
    """The contact who sent an email that arrived, with the address read as RFC 5322 allows (addresses.received_email)
    rather than as a form accepts it, and the note to keep with the message when the address is valid for email but
    unusual ("" otherwise). Not an address at all: ServiceError, before anything is written."""
    value, note = received_email(raw_address)
    return _contact_at(account=account, kind=IdentityKind.EMAIL, value=value, name=name), note


# Nested in the inbound task's transaction without a savepoint (two round trips saved): the address was checked
# above, and a database error here ends the whole transaction, as every caller lets it.
@transaction.atomic(savepoint=False)
def _contact_at(*, account: Account, kind: str, value: str, name: str | None) -> Contact:
    def known() -> ContactIdentity | None:
        return ContactIdentity.objects.select_related("contact").filter(account=account, kind=kind, value=value).first()

    # A known address needs no lock (identities are unique per account, kind and value; the lock only keeps two
    # workers from creating one new address twice): a returning customer's message saves that round trip.
    identity = known()
    if identity is None:
        _lock_address(account, value)
        identity = known()  # created by a worker that held the lock while this one looked
    if identity is not None:
        contact = identity.contact
    else:
        sibling = None
        if kind in PHONE_KINDS:
            sibling = (
                ContactIdentity.objects.select_related("contact")
                .filter(account=account, kind__in=PHONE_KINDS - {kind}, value=value)
                .first()
            )
        contact = sibling.contact if sibling is not None else Contact.objects.create(account=account, name=name or "")
        ContactIdentity.objects.create(account=account, contact=contact, kind=kind, value=value)
    if name and not contact.name:
        contact.name = name.strip()[:200]
        contact.save(update_fields=["name"])
    return contact


def _identity_conflict(account: Account, kind: str, value: str, contact: Contact | None) -> None:
    existing = ContactIdentity.objects.filter(account=account, kind=kind, value=value).first()
    if existing is not None and (contact is None or existing.contact_id != contact.pk):
        raise Conflict(
            f"{value} already belongs to contact {existing.contact_id}; merge the two contacts instead.",
            field="identities",
        )


@transaction.atomic
def contact_create(
    *,
    account: Account,
    actor: User | None,
    name: str = "",
    attributes: dict[str, Any] | None = None,
    identities: list[dict[str, str]] | None = None,
) -> Contact:
    normalized = []
    for item in identities or []:
        value = normalize_address(item["kind"], item["value"], region=account.default_region)
        _lock_address(account, value)
        _identity_conflict(account, item["kind"], value, None)
        normalized.append((item["kind"], value))
    contact = Contact.objects.create(account=account, name=name.strip(), attributes=attributes or {})
    ContactIdentity.objects.bulk_create(
        ContactIdentity(account=account, contact=contact, kind=kind, value=value) for kind, value in normalized
    )
    audit_log_record(account=account, actor=actor, action="contact.created", target=contact)
    return contact


@transaction.atomic
def contact_update(
    *,
    account: Account,
    actor: User | None,
    contact: Contact,
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    _ensure_live(account, contact)
    fields = []
    if name is not None:
        contact.name = name.strip()
        fields.append("name")
    if attributes is not None:
        contact.attributes = attributes
        fields.append("attributes")
    if fields:
        contact.save(update_fields=fields)
        audit_log_record(
            account=account, actor=actor, action="contact.updated", target=contact, data={"fields": fields}
        )
    return contact


@transaction.atomic
def identity_add(
    *, account: Account, actor: User | None, contact: Contact, kind: str, raw_value: str
) -> ContactIdentity:
    _ensure_live(account, contact)
    value = normalize_address(kind, raw_value, region=account.default_region)
    _lock_address(account, value)
    _identity_conflict(account, kind, value, contact)
    identity, _created = ContactIdentity.objects.get_or_create(
        account=account, kind=kind, value=value, defaults={"contact": contact}
    )
    audit_log_record(
        account=account, actor=actor, action="identity.added", target=contact, data={"kind": kind, "value": value}
    )
    return identity


@transaction.atomic
def identity_remove(*, account: Account, actor: User | None, identity: ContactIdentity) -> None:
    if identity.account_id != account.pk:
        raise ServiceError("That identity is not in this account.")
    audit_log_record(
        account=account,
        actor=actor,
        action="identity.removed",
        target=identity.contact,
        data={"kind": identity.kind, "value": identity.value},
    )
    identity.delete()


def contact_touch(*, account: Account, contact: Contact, at: Any = None) -> None:
    """Move the contact's last activity forward (never back)."""
    at = at or timezone.now()
    Contact.objects.filter(account=account, pk=contact.pk, last_activity_at__lt=at).update(last_activity_at=at)


def _ensure_live(account: Account, contact: Contact) -> None:
    if contact.account_id != account.pk:
        raise ServiceError("That contact is not in this account.")
    if contact.merged_into_id is not None:
        raise Conflict(f"This contact was merged into contact {contact.merged_into_id}; use that one.", field="contact")


# Steps the apps above add to a merge (folding same-inbox conversations, collapsing duplicate facts): each
# runs after the generic move and returns what it changed, kept in the merge's audit record, from which its
# undo puts things back. Registered at start-up by the app that owns the data (its AppConfig.ready).
MergeStep = Callable[[Account, Contact, User | None], dict[str, Any]]
UndoStep = Callable[[Account, dict[str, Any]], None]
_MERGE_STEPS: dict[str, tuple[MergeStep, UndoStep]] = {}
UNDO_WINDOW = timedelta(days=30)


def merge_step_register(name: str, merge: MergeStep, undo: UndoStep) -> None:
    _MERGE_STEPS[name] = (merge, undo)


@retry_transaction
@transaction.atomic
def contact_merge(*, account: Account, actor: User | None, keep: Contact, drop: Contact) -> Contact:
    """Fold `drop` into `keep`: every row that points at `drop` (identities, conversations, messages, memory,
    contacts merged into it earlier) is moved to `keep`; names and attributes fill gaps in `keep`; `drop` stays
    as a pointer (`merged_into`). Then the registered steps fold what now overlaps. The audit record keeps the
    ids of everything moved, so an admin can undo the merge for 30 days (`contact_unmerge`)."""
    if keep.pk == drop.pk:
        raise ServiceError("Choose two different contacts to merge.", field="drop")
    locked = {
        c.pk: c
        for c in Contact.objects.select_for_update().filter(account=account, pk__in=[keep.pk, drop.pk]).order_by("pk")
    }
    if len(locked) != 2:
        raise ServiceError("Both contacts must belong to this account.", field="drop")
    keep, drop = locked[keep.pk], locked[drop.pk]
    for contact in (keep, drop):
        if contact.merged_into_id is not None:
            raise Conflict(f"Contact {contact.pk} was already merged into {contact.merged_into_id}.", field="drop")

    moved: dict[str, int] = {}
    rows: dict[str, dict[str, Any]] = {}
    for model, field in _contact_relations():
        ids = list(model._base_manager.filter(**{field.name: drop}).values_list("pk", flat=True))
        if ids:
            model._base_manager.filter(pk__in=ids).update(**{field.name: keep})
            label = f"{model._meta.label_lower}.{field.name}"
            moved[label] = len(ids)
            rows[label] = {"model": model._meta.label_lower, "field": field.name, "ids": ids}

    # (last activity is not restored by an undo: what happened since stays with the kept contact)
    before = {"name": keep.name, "attributes": keep.attributes, "created_at": keep.created_at.isoformat()}
    keep.name = keep.name or drop.name
    keep.attributes = {**drop.attributes, **keep.attributes}
    keep.created_at = min(keep.created_at, drop.created_at)
    keep.last_activity_at = max(keep.last_activity_at, drop.last_activity_at)
    keep.save(update_fields=["name", "attributes", "created_at", "last_activity_at"])
    drop.merged_into = keep
    drop.merged_at = timezone.now()
    drop.merged_by = actor if actor is not None and actor.is_authenticated else None
    drop.save(update_fields=["merged_into", "merged_at", "merged_by"])
    person = actor if actor is not None and actor.is_authenticated else None
    steps = {name: merge(account, keep, person) for name, (merge, _undo) in _MERGE_STEPS.items()}
    audit_log_record(
        account=account,
        actor=actor,
        action="contact.merged",
        target=keep,
        data={
            "kept": keep.pk,
            "dropped": drop.pk,
            "moved": moved,
            "rows": rows,
            "keep_before": before,
            "steps": steps,
        },
    )
    return keep


def _contact_relations() -> list[tuple[Any, ForeignKey[Any, Any]]]:
    """Every foreign key to Contact, from any app (hidden reverse relations included): this lower layer need not
    know who hangs data on a contact."""
    found = []
    for relation in Contact._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and relation.one_to_many and not relation.concrete):
            continue
        field = relation.field  # type: ignore[union-attr]
        if isinstance(field, ForeignKey):
            found.append((field.model, field))
    return found


@retry_transaction
@transaction.atomic
def contact_unmerge(*, account: Account, actor: User | None, merge: AuditLog) -> Contact:
    """Undo a merge from its audit record, within 30 days: the steps are undone newest first, then every row
    that moved goes back to the dropped contact, which lives again. What happened since (new messages on the
    kept contact) stays with the kept contact."""
    if merge.account_id != account.pk or merge.action != "contact.merged":
        raise ServiceError("That is not a merge of this account.", field="merge")
    if timezone.now() - merge.created_at > UNDO_WINDOW:
        raise Conflict("A merge can be undone for 30 days; this one is older.", field="merge")
    if AuditLog.objects.filter(account=account, action="contact.unmerged", data__merge=merge.pk).exists():
        raise Conflict("This merge was already undone.", field="merge")
    data = merge.data
    if "rows" not in data:
        raise Conflict("This merge was recorded before merges could be undone.", field="merge")
    contacts = {
        c.pk: c
        for c in Contact.objects.select_for_update().filter(account=account, pk__in=[data["kept"], data["dropped"]])
    }
    keep, drop = contacts.get(data["kept"]), contacts.get(data["dropped"])
    if keep is None or drop is None or drop.merged_into_id != keep.pk or keep.merged_into_id is not None:
        raise Conflict("The contacts have changed since (merged again?); this merge cannot be undone.", field="merge")
    for name, record in reversed(list(data.get("steps", {}).items())):
        if name in _MERGE_STEPS:
            _MERGE_STEPS[name][1](account, record)
    from django.apps import apps

    for entry in data["rows"].values():
        model = apps.get_model(entry["model"])
        model._base_manager.filter(pk__in=entry["ids"], **{entry["field"]: keep}).update(**{entry["field"]: drop})
    before = data["keep_before"]
    keep.name, keep.attributes = before["name"], before["attributes"]
    keep.created_at = datetime.fromisoformat(before["created_at"])
    keep.save(update_fields=["name", "attributes", "created_at"])
    drop.merged_into, drop.merged_at, drop.merged_by = None, None, None
    drop.save(update_fields=["merged_into", "merged_at", "merged_by"])
    audit_log_record(
        account=account, actor=actor, action="contact.unmerged", target=keep,
        data={"merge": merge.pk, "kept": keep.pk, "restored": drop.pk},
    )  # fmt: skip
    return drop

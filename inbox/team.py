"""Writes and reads of the team's everyday tools: labels on conversations and contacts, canned responses with
their variables, and bulk actions on the conversation list."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.errors import Conflict, ServiceError
from accounts.models import Account, Membership, User
from accounts.services import audit_log_record
from contacts.models import Contact

from . import events
from .models import CannedResponse, ContactLabel, Conversation, ConversationLabel, Label, SavedFilter, Status
from .selectors import conversation_get, conversation_list, visible_inboxes

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")
BULK_MAX = 200


def _clean_label(values: dict[str, Any]) -> dict[str, Any]:
    if "name" in values:
        values["name"] = " ".join(str(values["name"]).split())
        if not values["name"]:
            raise ServiceError("A label needs a name, such as VIP or Refund.", field="name")
    if "colour" in values and not _COLOUR.match(values["colour"] or ""):
        raise ServiceError("A colour is written #rrggbb, such as #d97706.", field="colour")
    return values


def label_create(*, account: Account, actor: User | None, **values: Any) -> Label:
    values = _clean_label(values)
    if Label.objects.filter(account=account, name__iexact=values.get("name", "")).exists():
        raise Conflict(f"There is already a label called {values['name']}.", field="name")
    label = Label.objects.create(account=account, **values)
    audit_log_record(account=account, actor=actor, action="label.created", target=label, data={"name": label.name})
    return label


def label_update(*, account: Account, actor: User | None, label: Label, **values: Any) -> Label:
    values = _clean_label(values)
    if (
        "name" in values
        and Label.objects.filter(account=account, name__iexact=values["name"]).exclude(pk=label.pk).exists()
    ):
        raise Conflict(f"There is already a label called {values['name']}.", field="name")
    for field, value in values.items():
        setattr(label, field, value)
    if values:
        label.save(update_fields=list(values))
        audit_log_record(
            account=account, actor=actor, action="label.updated", target=label, data={"fields": sorted(values)}
        )
    return label


def label_delete(*, account: Account, actor: User | None, label: Label) -> None:
    audit_log_record(account=account, actor=actor, action="label.deleted", target=label, data={"name": label.name})
    label.delete()


def _labels(account: Account, label_ids: Iterable[int]) -> list[Label]:
    ids = sorted({int(i) for i in label_ids})
    labels = list(Label.objects.filter(account=account, pk__in=ids))
    if len(labels) != len(ids):
        raise ServiceError("Choose labels of this account.", field="labels")
    return labels


def _labels_set(
    account: Account, through: Any, owner: dict[str, Any], add: Iterable[int], remove: Iterable[int]
) -> list[Label]:
    """Add and remove labels on one conversation or contact (`through` is the link model, `owner` its one field)."""
    added = _labels(account, add)
    removed = _labels(account, remove)
    for label in added:
        through.objects.get_or_create(account=account, label=label, **owner)
    through.objects.filter(label__in=removed, **owner).delete()
    return list(Label.objects.filter(pk__in=through.objects.filter(**owner).values("label_id")).order_by("name"))


@transaction.atomic
def conversation_labels_set(
    *,
    account: Account,
    actor: User | None,
    conversation: Conversation,
    add: Iterable[int] = (),
    remove: Iterable[int] = (),
) -> list[Label]:
    """Add and remove labels on a conversation; its consoles are told."""
    labels = _labels_set(account, ConversationLabel, {"conversation": conversation}, add, remove)
    events.publish(account.pk, conversation.inbox_id, "conversation.updated", {"conversation": {"id": conversation.pk}})
    return labels


@transaction.atomic
def contact_labels_set(
    *, account: Account, actor: User | None, contact: Contact, add: Iterable[int] = (), remove: Iterable[int] = ()
) -> list[Label]:
    return _labels_set(account, ContactLabel, {"contact": contact}, add, remove)


# --- Canned responses -----------------------------------------------------------------------------------------


def canned_list(*, account: Account, membership: Membership) -> QuerySet[CannedResponse]:
    """The responses this person may use: account-wide ones and those of the inboxes they see."""
    visible = visible_inboxes(account=account, membership=membership)
    return CannedResponse.objects.filter(account=account).filter(inbox__isnull=True) | CannedResponse.objects.filter(
        account=account, inbox__in=visible
    )


def _clean_canned(values: dict[str, Any]) -> dict[str, Any]:
    if "shortcut" in values:
        values["shortcut"] = str(values["shortcut"]).strip().lstrip("/").lower()
        if not values["shortcut"]:
            raise ServiceError("A shortcut is what follows / in the composer, such as hours.", field="shortcut")
    if "body" in values:
        unknown = sorted(
            {
                f"{{{{{obj}.{attr}}}}}"
                for obj, attr in _VARIABLE.findall(values["body"])
                if attr not in VARIABLES.get(obj, {})
            }
        )
        if unknown:
            known = ", ".join(f"{{{{{obj}.{attr}}}}}" for obj, attrs in VARIABLES.items() for attr in attrs)
            raise ServiceError(f"Unknown variable {', '.join(unknown)}; use {known}.", field="body")
    return values


def canned_create(*, account: Account, actor: User | None, **values: Any) -> CannedResponse:
    values = _clean_canned(values)
    try:
        with transaction.atomic():
            canned = CannedResponse.objects.create(account=account, created_by=actor, **values)
    except IntegrityError:
        raise Conflict(f"/{values.get('shortcut')} is already taken here.", field="shortcut") from None
    audit_log_record(
        account=account, actor=actor, action="canned.created", target=canned, data={"shortcut": canned.shortcut}
    )
    return canned


def canned_update(*, account: Account, actor: User | None, canned: CannedResponse, **values: Any) -> CannedResponse:
    values = _clean_canned(values)
    for field, value in values.items():
        setattr(canned, field, value)
    try:
        with transaction.atomic():
            canned.save()
    except IntegrityError:
        raise Conflict(f"/{canned.shortcut} is already taken here.", field="shortcut") from None
    return canned


def canned_delete(*, account: Account, actor: User | None, canned: CannedResponse) -> None:
    audit_log_record(
        account=account, actor=actor, action="canned.deleted", target=canned, data={"shortcut": canned.shortcut}
    )
    canned.delete()


def _first(name: str) -> str:
    return name.split(" ")[0] if name else ""


# What a canned response may say, and where each value comes from (blank when unknown: "Hi {{contact.first_name}},"
# becomes "Hi ," rather than a wrong name).
VARIABLES: dict[str, dict[str, Callable[[Conversation, User], str]]] = {
    "contact": {
        "name": lambda c, a: c.contact.name or "",
        "first_name": lambda c, a: _first(c.contact.name or ""),
    },
    "agent": {"name": lambda c, a: a.display_name, "first_name": lambda c, a: _first(a.display_name)},
    "inbox": {"name": lambda c, a: c.inbox.name},
    "account": {"name": lambda c, a: c.account.name},
    "conversation": {"number": lambda c, a: str(c.number)},
}


def filler(*, conversation: Conversation, agent: User) -> Callable[[str], str]:
    """Fill a canned response's variables for this conversation and this agent."""

    def fill(body: str) -> str:
        def one(match: re.Match[str]) -> str:
            getter = VARIABLES.get(match.group(1), {}).get(match.group(2))
            return getter(conversation, agent) if getter is not None else match.group(0)

        filled = _VARIABLE.sub(one, body)
        return re.sub(r"[ \t]+([,.!?;:])", r"\1", re.sub(r"[ \t]{2,}", " ", filled))  # "Hi ," -> "Hi,"

    return fill


def conversation_for(*, account: Account, membership: Membership, raw_id: Any) -> Conversation:
    """A conversation this person sees, by id from a query string (else a field-named error)."""
    try:
        conversation_id = int(raw_id)
    except (TypeError, ValueError):
        raise ServiceError("conversation is a conversation id.", field="conversation") from None
    conversation = conversation_get(account=account, membership=membership, conversation_id=conversation_id)
    if conversation is None:
        raise ServiceError("No such conversation.", field="conversation")
    return conversation


# --- Bulk actions -------------------------------------------------------------------------------------------


BULK_ACTIONS = ("assign", "unassign", "label", "unlabel", "resolve", "reopen")


def conversations_bulk(
    *, account: Account, membership: Membership, actor: User, ids: list[int], action: str, value: Any = None
) -> int:
    """Apply one action to many conversations this person sees (at most BULK_MAX); each change writes its
    activity line as it would one by one. Returns how many were changed."""
    from .services import conversation_assign, conversation_set_status, conversation_unassign

    if action not in BULK_ACTIONS:
        raise ServiceError(f"action is one of: {', '.join(BULK_ACTIONS)}.", field="action")
    if not ids:
        raise ServiceError("Choose at least one conversation.", field="ids")
    if len(ids) > BULK_MAX:
        raise ServiceError(f"At most {BULK_MAX} conversations at once.", field="ids")
    rows = list(conversation_list(account=account, membership=membership).filter(pk__in=ids).select_related("inbox"))
    if len(rows) != len(set(ids)):
        raise ServiceError("Some of these conversations do not exist or are not yours to see.", field="ids")
    assignee = None
    label_ids: list[int] = []
    if action == "assign":
        assignee = User.objects.filter(pk=value, memberships__account=account).first() if value else None
        if assignee is None:
            raise ServiceError("value is the id of a member to assign to.", field="value")
    if action in ("label", "unlabel"):
        label_ids = [int(value)] if isinstance(value, int | str) and str(value).isdigit() else []
        _labels(account, label_ids or [0])
    changed = 0
    with transaction.atomic():
        for conversation in rows:
            if action == "assign" and assignee is not None:
                conversation_assign(account=account, actor=actor, conversation=conversation, assignee=assignee)
            elif action == "unassign":
                conversation_unassign(account=account, actor=actor, conversation=conversation)
            elif action == "label":
                conversation_labels_set(account=account, actor=actor, conversation=conversation, add=label_ids)
            elif action == "unlabel":
                conversation_labels_set(account=account, actor=actor, conversation=conversation, remove=label_ids)
            elif action == "resolve":
                conversation_set_status(account=account, actor=actor, conversation=conversation, status=Status.RESOLVED)
            elif action == "reopen":
                conversation_set_status(account=account, actor=actor, conversation=conversation, status=Status.LIVE)
            changed += 1
    return changed


# --- Saved views ----------------------------------------------------------------------------------------------

FOLDER_KEYS = ("mine", "unassigned", "ai", "escalated", "waiting", "snoozed", "resolved", "all")


def saved_filter_create(
    *, account: Account, membership: Membership, user: User, name: str, query: dict[str, Any] | None = None
) -> SavedFilter:
    """Save a view of the list: a folder, and an inbox this person sees and a label of the account, each optional."""
    query = query or {}
    clean: dict[str, Any] = {"folder": str(query.get("folder") or "all")}
    if clean["folder"] not in FOLDER_KEYS:
        raise ServiceError(f"folder is one of: {', '.join(FOLDER_KEYS)}.", field="query")
    for key, rows in (("inbox", visible_inboxes(account=account, membership=membership)),
                      ("label", Label.objects.filter(account=account))):  # fmt: skip
        raw = query.get(key)
        if raw in (None, ""):
            continue
        if not str(raw).isdigit() or not rows.filter(pk=int(raw)).exists():
            raise ServiceError(f"No such {key} here.", field="query")
        clean[key] = int(raw)
    try:
        with transaction.atomic():
            return SavedFilter.objects.create(account=account, user=user, name=name, query=clean)
    except IntegrityError:
        raise Conflict(f"You already have a view called {name}.", field="name") from None

"""The customer's data: everything known about one contact as JSON (a data request), erasing a contact with all
they left behind, a CSV of all contacts, and the per-account retention that deletes old conversations.

It sits above the inbox, memory and channels because erasure must reach every copy: conversations, messages
and their files, facts, notes, sentiment, handoffs, ratings, labels, identities, the contacts merged into this
one, the provider posts that carried their messages, the webhook deliveries that mentioned them, the channel
sandbox's transcript, and the audit entries about them (kept as a record that something happened, with their
data replaced). One audit entry says who erased whom and when.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, AuditLog, User
from accounts.services import audit_log_record
from accounts.text import spreadsheet_cell
from channels_app.models import ChannelEndpoint, InboundEvent, SandboxMessage
from contacts.models import Contact, ContactIdentity
from inbox.models import Attachment, ContactLabel, Conversation, CsatSurvey, Message
from memory.models import AiNote, Fact, Handoff, SentimentReading

from .models import WebhookDelivery

logger = logging.getLogger(__name__)

RETENTION_BATCH = 500


def _row(obj: models.Model, skip: Iterable[str] = ("account",)) -> dict[str, Any]:
    """Every stored column of a row, JSON-ready (foreign keys as ids)."""
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in skip:
            continue
        value = getattr(obj, field.attname)
        if isinstance(field, models.FileField):
            value = str(value or "")
        out[field.attname] = value
    return out


def _family(account: Account, contact: Contact) -> list[int]:
    """The contact and the contacts merged into it (their rows moved here; the shells keep names)."""
    ids, frontier = {contact.pk}, [contact.pk]
    while frontier:
        found = list(Contact.objects.filter(account=account, merged_into_id__in=frontier).values_list("pk", flat=True))
        frontier = [i for i in found if i not in ids]
        ids.update(frontier)
    return sorted(ids)


def contact_export(*, account: Account, actor: User | None, contact: Contact) -> dict[str, Any]:
    """Everything the account holds about this person, for a data request (the admin reviews it before sending)."""
    family = _family(account, contact)
    conversations = Conversation.objects.filter(account=account, contact_id__in=family).select_related("inbox")
    messages = (
        Message.objects.filter(account=account, contact_id__in=family)
        .select_related("sender_user")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    by_conversation: dict[int, list[dict[str, Any]]] = {}
    for message in messages:
        row = _row(message)
        row["sender_name"] = message.sender_user.display_name if message.sender_user else ""
        row["attachments"] = [_row(a) for a in message.attachments.all()]
        by_conversation.setdefault(message.conversation_id, []).append(row)
    data = {
        "format": "continuum.contact-export/1",
        "exported_at": timezone.now(),
        "account": {"id": account.pk, "name": account.name},
        "contact": _row(contact),
        "merged_contacts": [_row(c) for c in Contact.objects.filter(pk__in=family).exclude(pk=contact.pk)],
        "identities": [_row(i) for i in contact.identities.all().order_by("id")],
        "labels": [cl.label.name for cl in ContactLabel.objects.filter(contact_id__in=family).select_related("label")],
        "conversations": [
            {**_row(c), "inbox_name": c.inbox.name, "messages": by_conversation.get(c.pk, [])}
            for c in conversations.order_by("created_at", "id")
        ],
        "memory": {
            "facts": [_row(f) for f in Fact.objects.filter(account=account, contact_id__in=family).order_by("id")],
            "notes": [_row(n) for n in AiNote.objects.filter(account=account, contact_id__in=family).order_by("id")],
            "sentiment": [
                _row(s) for s in SentimentReading.objects.filter(account=account, contact_id__in=family).order_by("id")
            ],
            "handoffs": [
                _row(h) for h in Handoff.objects.filter(account=account, contact_id__in=family).order_by("id")
            ],
        },
        "satisfaction": [
            _row(s, skip=("account", "token"))
            for s in CsatSurvey.objects.filter(account=account, contact_id__in=family).order_by("id")
        ],
    }
    audit_log_record(account=account, actor=actor, action="contact.exported", target=contact,
                     data={"conversations": conversations.count()})  # fmt: skip
    # one JSON round trip: dates and decimals as the encoder writes them, so the API and the file are the same
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _attachment_files(message_ids: list[int]) -> list[Any]:
    return [a.file for a in Attachment.objects.filter(message_id__in=message_ids) if a.file]


def _delete_files(files: list[Any]) -> None:
    for stored in files:
        try:
            stored.storage.delete(stored.name)
        except Exception:  # a missing file is already gone; the rows are what count
            logger.warning("could not delete an attachment file while erasing", exc_info=True)


@transaction.atomic
def contact_erase(*, account: Account, actor: User | None, contact: Contact) -> dict[str, int]:
    """Delete this person and everything they left: see the module's docstring. Returns what was deleted."""
    family = _family(account, contact)
    addresses = set(
        ContactIdentity.objects.filter(account=account, contact_id__in=family).values_list("value", flat=True)
    )
    conversation_ids = list(
        Conversation.objects.filter(account=account, contact_id__in=family).values_list("pk", flat=True)
    )
    messages = Message.objects.filter(account=account, contact_id__in=family)
    message_ids = list(messages.values_list("pk", flat=True))
    provider_ids = {p for p in messages.values_list("provider_id", flat=True) if p}
    fact_ids = list(Fact.objects.filter(account=account, contact_id__in=family).values_list("pk", flat=True))
    files = _attachment_files(message_ids)

    # what carried their words outside the conversation tables
    endpoints = ChannelEndpoint.objects.filter(account=account)
    phone_like = addresses | {f"whatsapp:{a}" for a in addresses}
    events = InboundEvent.objects.filter(endpoint__in=endpoints).filter(
        Q(idempotency_key__in=provider_ids)
        | Q(payload__From__in=sorted(phone_like))
        | Q(payload__To__in=sorted(phone_like))
    )
    events_deleted = events.delete()[0]
    mentions = Q()
    for path in ("message__contact_id", "contact_id", "handoff__contact_id", "csat__contact_id"):
        mentions |= Q(**{f"payload__data__{path}__in": family})
    deliveries_deleted = WebhookDelivery.objects.filter(account=account).filter(mentions).delete()[0]
    sandbox_deleted = SandboxMessage.objects.filter(account=account, customer__in=addresses).delete()[0]

    # audit entries about them keep that something happened, not what was said
    targets = Q(target_type="contacts.contact", target_id__in=[str(i) for i in family])
    targets |= Q(target_type="inbox.conversation", target_id__in=[str(i) for i in conversation_ids])
    targets |= Q(target_type="inbox.message", target_id__in=[str(i) for i in message_ids])
    targets |= Q(target_type="memory.fact", target_id__in=[str(i) for i in fact_ids])
    targets |= Q(target_type__in=["memory.handoff", "memory.ainote"], data__conversation__in=conversation_ids)
    targets |= Q(action__in=["contact.merged", "contact.unmerged"], data__kept__in=family)
    targets |= Q(action__in=["contact.merged", "contact.unmerged"], data__dropped__in=family)
    scrubbed = AuditLog.objects.filter(account=account).filter(targets).update(data={"erased": True})

    counts = {
        "contacts": len(family),
        "conversations": len(conversation_ids),
        "messages": len(message_ids),
        "attachments": len(files),
        "facts": len(fact_ids),
        "provider_events": events_deleted,
        "webhook_deliveries": deliveries_deleted,
        "sandbox_messages": sandbox_deleted,
        "audit_entries_scrubbed": scrubbed,
    }
    # conversations first (their messages, notes, readings, handoffs and ratings go with them), then the people
    Conversation.objects.filter(pk__in=conversation_ids).delete()
    Contact.objects.filter(pk__in=family).update(merged_into=None)
    Contact.objects.filter(pk__in=family).delete()
    audit_log_record(account=account, actor=actor, action="contact.erased", data=counts)
    transaction.on_commit(lambda: _delete_files(files))
    return counts


# --- all contacts as CSV -----------------------------------------------------------------------------------------


def contacts_csv(*, account: Account) -> Iterator[str]:
    """Every live contact: id, name, phones, emails, WhatsApp numbers, labels, created and last active."""
    header = ["id", "name", "phones", "emails", "whatsapp", "labels", "created_at", "last_activity_at"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    contacts = (
        Contact.objects.filter(account=account, merged_into__isnull=True)
        .prefetch_related("identities", "labellings__label")
        .order_by("id")
    )
    for contact in contacts.iterator(chunk_size=1000):
        buffer.seek(0)
        buffer.truncate()
        by_kind: dict[str, list[str]] = {}
        for identity in contact.identities.all():
            by_kind.setdefault(identity.kind, []).append(identity.value)
        labels = ", ".join(cl.label.name for cl in contact.labellings.all())
        writer.writerow([
            contact.pk, spreadsheet_cell(contact.name), " ".join(by_kind.get("phone", [])),
            " ".join(by_kind.get("email", [])), " ".join(by_kind.get("whatsapp", [])), spreadsheet_cell(labels),
            contact.created_at.isoformat(), contact.last_activity_at.isoformat(),
        ])  # fmt: skip
        yield buffer.getvalue()


# --- retention ---------------------------------------------------------------------------------------------------


def retention_cutoff(account: Account, now: datetime | None = None) -> datetime | None:
    months = account.retention_months
    if not months:
        return None
    return (now or timezone.now()) - relativedelta(months=months)


def retention_apply(*, account: Account, now: datetime | None = None) -> int:
    """Delete the account's conversations whose last activity is older than its retention (with their messages,
    files, notes, readings, handoffs and ratings), in batches; the contacts and their facts stay. Returns how many."""
    cutoff = retention_cutoff(account, now)
    if cutoff is None:
        return 0
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Conversation.objects.filter(account=account, last_activity_at__lt=cutoff)
                .order_by("id")
                .values_list("pk", flat=True)[:RETENTION_BATCH]
            )
            if not ids:
                break
            message_ids = list(Message.objects.filter(conversation_id__in=ids).values_list("pk", flat=True))
            files = _attachment_files(message_ids)
            Conversation.objects.filter(pk__in=ids).delete()
            transaction.on_commit(_deleter(files))
            deleted += len(ids)
    if deleted:
        audit_log_record(account=account, actor=None, action="account.retention_applied",
                         data={"conversations": deleted, "older_than": cutoff.isoformat(),
                               "months": account.retention_months})  # fmt: skip
    return deleted


def _deleter(files: list[Any]) -> Any:
    return lambda: _delete_files(files)


def retention_apply_all(now: datetime | None = None) -> dict[int, int]:
    done = {}
    for account in Account.objects.filter(retention_months__isnull=False).exclude(retention_months=0):
        done[account.pk] = retention_apply(account=account, now=now)
    return done

"""Contacts from a CSV: upload (decoded, delimiter sniffed, size and row caps), map each column to a field, then
import row by row: a row whose phone, email or WhatsApp number is already a contact's is matched to that contact
(its empty name filled, its missing addresses added when nobody else has them), any other row with at least one
valid address becomes a new contact, and a row with none is refused with the reason. Progress is saved as it
goes (the console's progress bar, the management command's), and one audit entry records the whole import."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.errors import ServiceError
from accounts.models import Account, User
from accounts.services import audit_log_record
from contacts.addresses import normalize_email, normalize_phone
from contacts.models import Contact, ContactIdentity
from inbox.models import ContactLabel, Label

from .models import ContactImport, ImportState

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
REPORT_KEPT = 1000  # rows of the report kept (matched and refused rows first of all)
PROGRESS_EVERY = 100
FIELDS = {
    "name": "Name",
    "phone": "Phone",
    "email": "Email",
    "whatsapp": "WhatsApp number",
    "labels": "Labels (comma-separated)",
    "ignore": "Ignore",
}
_GUESS = {
    "name": ("name", "full name", "contact", "customer", "nombre", "nom"),
    "phone": ("phone", "mobile", "cell", "telephone", "tel", "phone number", "teléfono", "téléphone"),
    "email": ("email", "e-mail", "mail", "email address", "correo", "courriel"),
    "whatsapp": ("whatsapp", "wa"),
    "labels": ("labels", "tags", "label", "tag"),
}


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")  # pragma: no cover - latin-1 decodes every byte


def _reader(text: str) -> Iterator[list[str]]:
    sample = text[:20_000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def guess(header: str) -> str:
    words = header.strip().lower().replace("_", " ")
    for field, names in _GUESS.items():
        if words in names:
            return field
    return "ignore"


def import_upload(*, account: Account, actor: User | None, filename: str, raw: bytes) -> ContactImport:
    if len(raw) > MAX_BYTES:
        raise ServiceError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.", field="file")
    text = _decode(raw).replace("\x00", "")
    try:
        rows: list[list[str]] = list(_reader(text))
    except csv.Error as exc:
        raise ServiceError(f"This is not a CSV file we can read: {exc}.", field="file") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ServiceError("The file is empty: the first line names the columns.", field="file")
    if len(rows) - 1 > MAX_ROWS:
        raise ServiceError(f"The file has {len(rows) - 1} rows; at most {MAX_ROWS} at a time.", field="file")
    headers = [h.strip()[:100] or f"Column {i + 1}" for i, h in enumerate(rows[0])]
    if len(set(headers)) != len(headers):
        raise ServiceError("Two columns have the same name; rename one.", field="file")
    return ContactImport.objects.create(
        account=account,
        created_by=actor,
        filename=filename[:200],
        content=text,
        headers=headers,
        mapping={h: guess(h) for h in headers},
        total_rows=len([row for row in rows[1:] if any(cell.strip() for cell in row)]),
    )


def preview(contact_import: ContactImport, n: int = 5) -> list[list[str]]:
    rows = _reader(contact_import.content)
    next(rows, None)
    return [row for _, row in zip(range(n), (r for r in rows if any(c.strip() for c in r)), strict=False)]


def import_start(*, contact_import: ContactImport, mapping: dict[str, str]) -> ContactImport:
    if contact_import.state != ImportState.MAPPING:
        raise ServiceError("This import has already started.", field="mapping", code="conflict")
    unknown = [h for h in mapping if h not in contact_import.headers]
    if unknown:
        raise ServiceError(f"The file has no column {unknown[0]!r}.", field="mapping")
    bad = [f for f in mapping.values() if f not in FIELDS and not f.startswith("attribute:")]
    if bad:
        raise ServiceError(f"{bad[0]!r} is not a field; use {', '.join(FIELDS)} or attribute:<key>.", field="mapping")
    chosen = {**contact_import.mapping, **mapping}
    if not {"phone", "email", "whatsapp"} & set(chosen.values()):
        raise ServiceError("Map at least one column to a phone, an email or a WhatsApp number.", field="mapping")
    contact_import.mapping, contact_import.state = chosen, ImportState.QUEUED
    contact_import.save(update_fields=["mapping", "state"])
    return contact_import


def import_queue(*, contact_import: ContactImport, mapping: dict[str, str]) -> ContactImport:
    """Start the import in a worker once the mapping is saved."""
    from .tasks import run_contact_import

    import_start(contact_import=contact_import, mapping=mapping)
    account_id, pk = contact_import.account_id, contact_import.pk
    transaction.on_commit(lambda: run_contact_import.delay(account_id, pk))
    return contact_import


def _addresses(account: Account, values: dict[str, list[str]]) -> tuple[list[tuple[str, str]], list[str]]:
    found, problems = [], []
    for field, kind in (("phone", "phone"), ("whatsapp", "whatsapp"), ("email", "email")):
        for raw in values.get(field, []):
            for piece in [p for p in raw.replace(";", ",").split(",") if p.strip()] if field == "email" else [raw]:
                try:
                    value = (
                        normalize_email(piece)
                        if kind == "email"
                        else normalize_phone(piece, region=account.default_region)
                    )
                except ServiceError as exc:
                    problems.append(exc.message)
                    continue
                found.append((kind, value))
    return found, problems


def _row(contact_import: ContactImport, row: list[str], labels: dict[str, Label]) -> tuple[str, str]:
    """(outcome, detail) of one row: created, matched or refused."""
    account = contact_import.account
    values: dict[str, list[str]] = {}
    attributes: dict[str, str] = {}
    for header, cell in zip(contact_import.headers, row, strict=False):
        field, cell = contact_import.mapping.get(header, "ignore"), cell.strip()
        if not cell or field == "ignore":
            continue
        if field.startswith("attribute:"):
            attributes[field.split(":", 1)[1][:50]] = cell[:500]
        else:
            values.setdefault(field, []).append(cell)
    addresses, problems = _addresses(account, values)
    if not addresses:
        return "refused", "; ".join(problems) or "no phone, email or WhatsApp number"
    name = " ".join(values.get("name", []))[:200]
    # an email's local part is matched without regard to case (as people and most mail servers treat it)
    wanted = Q()
    for kind, value in addresses:
        wanted |= Q(kind=kind, value__iexact=value) if kind == "email" else Q(kind=kind, value=value)
    existing = list(ContactIdentity.objects.filter(wanted, account=account).select_related("contact"))
    owners = {i.contact.merged_into_id or i.contact_id for i in existing}
    notes = list(problems)
    if len(owners) > 1:
        return "refused", "its addresses belong to different contacts (merge them first): " + ", ".join(
            f"{i.value}" for i in existing
        )
    if owners:
        contact = Contact.objects.get(pk=next(iter(owners)))
        outcome = "matched"
        if name and not contact.name:
            contact.name = name
        if attributes:
            contact.attributes = {**attributes, **(contact.attributes or {})}
        contact.save(update_fields=["name", "attributes"])
    else:
        contact = Contact.objects.create(account=account, name=name, attributes=attributes)
        outcome = "created"
    taken = {(i.kind, i.value.lower() if i.kind == "email" else i.value) for i in existing}
    for kind, value in addresses:
        if (kind, value.lower() if kind == "email" else value) not in taken:
            ContactIdentity.objects.create(account=account, contact=contact, kind=kind, value=value)
    for label_name in [p.strip()[:50] for raw in values.get("labels", []) for p in raw.split(",") if p.strip()]:
        label = labels.get(label_name.lower())
        if label is None:
            label = Label.objects.filter(account=account, name__iexact=label_name).first() or Label.objects.create(
                account=account, name=label_name
            )
            labels[label_name.lower()] = label
        ContactLabel.objects.get_or_create(account=account, contact=contact, label=label)
    detail = (contact.name or f"contact {contact.pk}") + (f" ({'; '.join(notes)})" if notes else "")
    return outcome, detail


def import_run(contact_import: ContactImport, *, progress: Callable[[ContactImport], None] | None = None) -> None:
    """Import every row (resumable: rows already processed are skipped), saving progress as it goes."""
    contact_import.state = ImportState.RUNNING
    contact_import.save(update_fields=["state"])
    rows = _reader(contact_import.content)
    next(rows, None)
    labels: dict[str, Label] = {}
    done = 0
    report = list(contact_import.report)
    for number, row in enumerate(rows, start=2):  # numbered as a spreadsheet shows them (the header is row 1)
        if not any(cell.strip() for cell in row):
            continue
        done += 1
        if done <= contact_import.processed_rows:
            continue
        try:
            with transaction.atomic():
                outcome, detail = _row(contact_import, row, labels)
        except IntegrityError:  # an address claimed at the same moment by a live message: match it next time
            with transaction.atomic():
                outcome, detail = _row(contact_import, row, labels)
        field = {"created": "created_count", "matched": "matched_count", "refused": "refused_count"}[outcome]
        setattr(contact_import, field, getattr(contact_import, field) + 1)
        if outcome != "created" and len(report) < REPORT_KEPT:
            report.append({"row": number, "outcome": outcome, "detail": detail[:300]})
        contact_import.processed_rows = done
        if done % PROGRESS_EVERY == 0:
            contact_import.report = report
            contact_import.save(update_fields=["processed_rows", "created_count", "matched_count", "refused_count",
                                               "report"])  # fmt: skip
            if progress:
                progress(contact_import)
    contact_import.report = report
    contact_import.state, contact_import.finished_at = ImportState.DONE, timezone.now()
    contact_import.content = ""  # the file is not kept once imported
    contact_import.save()
    counts = {
        "file": contact_import.filename,
        "created": contact_import.created_count,
        "matched": contact_import.matched_count,
        "refused": contact_import.refused_count,
    }
    audit_log_record(account=contact_import.account, actor=contact_import.created_by, action="contacts.imported",
                     target=contact_import, data=counts)  # fmt: skip
    if progress:
        progress(contact_import)

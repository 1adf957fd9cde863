"""WhatsApp message templates: synced per sender from Twilio's Content API, filled from Shared Memory, and sent when
WhatsApp's 24-hour window is closed (the only message WhatsApp then delivers).

Each variable ({{1}}, {{2}}, ...) has a source an admin picks once per template (`sources`): the contact's name or
first name, the agent's first name, the inbox or business name, the conversation number, or a fact the inbox's
memory holds ("fact:order_number"). The composer fills the values from them; the agent may change any before
sending."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException

from accounts.errors import ServiceError
from accounts.models import Account, User
from contacts.models import Contact, ContactIdentity
from inbox.models import Conversation, Inbox, Message
from inbox.selectors import WHATSAPP_WINDOW
from inbox.services import send_message
from memory.models import FactStatus
from memory.selectors import fact_list

from .adapters import twilio
from .models import ChannelEndpoint, MessageTemplate, TemplateStatus

logger = logging.getLogger(__name__)
PLACEHOLDER = re.compile(r"\{\{\s*([0-9A-Za-z_]{1,40})\s*\}\}")
VALUE_MAX = 1024  # WhatsApp's limit for one variable's value
# Where a variable's value comes from (besides "fact:<key>").
SOURCES = {
    "contact.first_name": "The customer's first name",
    "contact.name": "The customer's full name",
    "agent.first_name": "Your first name",
    "agent.name": "Your full name",
    "inbox.name": "The inbox's name",
    "account.name": "The business's name",
    "conversation.number": "The conversation number",
}
FACT_PREFIX = "fact:"


def variables_of(body: str) -> list[str]:
    """The template's variables in order of first appearance."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(body):
        if name not in seen:
            seen.append(name)
    return seen


def render(body: str, values: dict[str, str]) -> str:
    """The text the customer receives (as Twilio fills it)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


# --- Sync ----------------------------------------------------------------------------------------------------


def templates_sync(endpoint: ChannelEndpoint) -> dict[str, int]:
    """Read the sender's templates from the Content API into MessageTemplate; what WhatsApp no longer has is
    marked removed (kept: sent messages name it). Raises ServiceError when Twilio refuses."""
    if endpoint.kind != "whatsapp" or endpoint.provider != "twilio":
        raise ServiceError("Templates belong to a WhatsApp sender connected through Twilio.", field="endpoint")
    try:
        found = twilio.templates(endpoint)
    except TwilioRestException as exc:
        raise ServiceError(f"Twilio refused to list the templates: {exc.msg}", field="endpoint") from None
    now = timezone.now()
    counts = {"added": 0, "updated": 0, "removed": 0}
    with transaction.atomic():
        known = {t.content_sid: t for t in MessageTemplate.objects.select_for_update().filter(endpoint=endpoint)}
        for item in found:
            status = item.status if item.status in TemplateStatus.values else TemplateStatus.PENDING
            fields = {
                "name": item.name, "language": item.language, "category": item.category, "body": item.body,
                "samples": item.samples, "status": status, "rejection_reason": item.rejection_reason,
                "synced_at": now, "removed_at": None,
            }  # fmt: skip
            row = known.pop(item.content_sid, None)
            if row is None:
                MessageTemplate.objects.create(
                    account_id=endpoint.account_id, endpoint=endpoint, content_sid=item.content_sid, **fields
                )
                counts["added"] += 1
                continue
            for name, value in fields.items():
                setattr(row, name, value)
            row.sources = {k: v for k, v in row.sources.items() if k in variables_of(item.body)}
            row.save()
            counts["updated"] += 1
        gone = [row.pk for row in known.values() if row.removed_at is None]
        counts["removed"] = MessageTemplate.objects.filter(pk__in=gone).update(removed_at=now)
    return counts


def sync_all() -> dict[str, int]:
    """Every enabled Twilio WhatsApp sender's templates (beat, every 30 minutes): approvals change on Meta's side."""
    totals = {"senders": 0, "failed": 0}
    for endpoint in ChannelEndpoint.objects.filter(kind="whatsapp", provider="twilio", enabled=True):
        try:
            templates_sync(endpoint)
            totals["senders"] += 1
        except (ServiceError, OSError) as exc:
            totals["failed"] += 1
            logger.warning("could not sync WhatsApp templates of endpoint %s: %s", endpoint.pk, exc)
    return totals


# --- Sources and values --------------------------------------------------------------------------------------


def template_sources_set(*, account: Account, template: MessageTemplate, sources: Any) -> MessageTemplate:
    if template.account_id != account.pk:
        raise ServiceError("No such template.", field="template")
    if not isinstance(sources, dict):
        raise ServiceError('Give sources as {"1": "contact.first_name", ...}.', field="sources")
    names = variables_of(template.body)
    clean: dict[str, str] = {}
    for name, source in sources.items():
        if name not in names:
            raise ServiceError(f"The template has no variable {{{{{name}}}}}.", field="sources")
        source = str(source or "").strip()
        if not source:
            continue
        if source not in SOURCES and not (
            source.startswith(FACT_PREFIX) and re.fullmatch(r"[-a-zA-Z0-9_]{1,64}", source[len(FACT_PREFIX) :])
        ):
            raise ServiceError(
                f"{{{{{name}}}}}: {source!r} is not a source; use one of {', '.join(SOURCES)} or fact:<key>.",
                field="sources",
            )
        clean[name] = source
    template.sources = clean
    template.save(update_fields=["sources"])
    return template


def source_label(source: str) -> str:
    """A source in words, for the composer ("" when the variable has none)."""
    if source.startswith(FACT_PREFIX):
        return f"Fact: {source[len(FACT_PREFIX) :].replace('_', ' ')}"
    return SOURCES.get(source, "")


def template_fields(template: MessageTemplate, values: dict[str, str]) -> list[dict[str, str]]:
    """The composer's fields for a template: each variable with its value, its source in words and Twilio's sample."""
    return [
        {
            "name": name,
            "value": value,
            "source": source_label(str(template.sources.get(name, ""))),
            "sample": str(template.samples.get(name, "")),
        }
        for name, value in values.items()
    ]


def _first(name: str) -> str:
    return name.split()[0] if name.split() else ""


def values_for(template: MessageTemplate, conversation: Conversation, user: User | None) -> dict[str, str]:
    """Each variable's value from its source, for this conversation ("" where memory has nothing)."""
    return values_for_contact(template, conversation.contact, conversation.inbox, user, number=str(conversation.number))


def _uses_facts(template: MessageTemplate) -> bool:
    return any(str(source).startswith(FACT_PREFIX) for source in template.sources.values())


def _active_facts(contact: Contact, inbox: Inbox) -> dict[str, str]:
    facts: dict[str, str] = {}
    for fact in fact_list(account=inbox.account, contact=contact, inbox=inbox):
        if fact.status == FactStatus.ACTIVE:
            facts.setdefault(fact.key, fact.value)
    return facts


def shown_templates(
    templates: list[MessageTemplate],
    contact: Contact | None,
    user: User | None,
    *,
    inbox: Inbox | None = None,
    number: str = "",
) -> list[dict[str, Any]]:
    """The composer's list (a conversation's, or New conversation's): each template with its fields, filled for
    this customer, whose facts are read once per inbox whatever the number of templates. `inbox`: the
    conversation's (otherwise each template's sender's)."""
    facts_by_inbox: dict[int, dict[str, str]] = {}
    shown = []
    for template in templates:
        box = inbox or template.endpoint.inbox
        facts: dict[str, str] = {}
        if contact is not None and _uses_facts(template):
            if box.pk not in facts_by_inbox:
                facts_by_inbox[box.pk] = _active_facts(contact, box)
            facts = facts_by_inbox[box.pk]
        values = values_for_contact(template, contact, box, user, number=number, facts=facts)
        shown.append({"template": template, "fields": template_fields(template, values)})
    return shown


def values_for_contact(
    template: MessageTemplate,
    contact: Contact | None,
    inbox: Inbox,
    user: User | None,
    *,
    number: str = "",
    facts: dict[str, str] | None = None,
) -> dict[str, str]:
    """Each variable's value from its source for this customer in this inbox (no contact yet: only the team's).
    `facts`: the customer's facts in this inbox when the caller already read them (_active_facts)."""
    if facts is None:
        facts = _active_facts(contact, inbox) if contact is not None and _uses_facts(template) else {}
    person = (user.display_name if user is not None else "") or ""
    name = contact.name if contact is not None else ""
    known = {
        "contact.first_name": _first(name),
        "contact.name": name,
        "agent.first_name": _first(person),
        "agent.name": person,
        "inbox.name": inbox.name,
        "account.name": inbox.account.name,
        "conversation.number": number,
    }
    values = {}
    for variable in variables_of(template.body):
        source = str(template.sources.get(variable, ""))
        values[variable] = (
            facts.get(source[len(FACT_PREFIX) :], "") if source.startswith(FACT_PREFIX) else known.get(source, "")
        )
    return values


def templates_of(account: Account, inbox_ids: list[int]) -> list[MessageTemplate]:
    """The approved templates of these inboxes' WhatsApp senders, by inbox and name."""
    return list(
        MessageTemplate.objects.filter(
            account=account,
            endpoint__inbox_id__in=inbox_ids,
            endpoint__kind="whatsapp",
            endpoint__enabled=True,
            status=TemplateStatus.APPROVED,
            removed_at__isnull=True,
        )
        .select_related("endpoint__inbox")
        .order_by("endpoint__inbox__name", "name", "language")
    )


def templates_for(conversation: Conversation) -> list[MessageTemplate]:
    """The approved templates of the inbox's WhatsApp senders, by name."""
    return list(
        MessageTemplate.objects.filter(
            account_id=conversation.account_id,
            endpoint__inbox_id=conversation.inbox_id,
            endpoint__kind="whatsapp",
            endpoint__enabled=True,
            status=TemplateStatus.APPROVED,
            removed_at__isnull=True,
        ).order_by("name", "language")
    )


def window_closes_at(conversation: Conversation) -> datetime | None:
    """When the customer's WhatsApp window closes (or closed); None when they never wrote on WhatsApp."""
    last = (
        Message.objects.filter(
            account_id=conversation.account_id, contact_id=conversation.contact_id, channel="whatsapp", direction="in"
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return last + WHATSAPP_WINDOW if last is not None else None


# --- Sending -------------------------------------------------------------------------------------------------


def template_send(
    *,
    account: Account,
    conversation: Conversation,
    template: MessageTemplate,
    variables: Any,
    user: User | None,
) -> Message:
    """Queue the approved template to the customer's WhatsApp with these values (each variable must have one)."""
    if template.account_id != account.pk or template.endpoint.inbox_id != conversation.inbox_id:
        raise ServiceError("That template belongs to another inbox's WhatsApp sender.", field="template")
    if template.status != TemplateStatus.APPROVED or template.removed_at is not None:
        why = template.rejection_reason or template.get_status_display()
        raise ServiceError(f"{template.name} is not approved by WhatsApp ({why}).", field="template")
    if not isinstance(variables, dict):
        raise ServiceError('Give the values as {"1": "Maria", ...}.', field="variables")
    values: dict[str, str] = {}
    for name in variables_of(template.body):
        value = " ".join(str(variables.get(name) or "").split())  # WhatsApp refuses new lines and tabs in values
        if not value:
            raise ServiceError(f"Fill in {{{{{name}}}}} before sending.", field="variables")
        if len(value) > VALUE_MAX:
            raise ServiceError(f"{{{{{name}}}}} holds at most {VALUE_MAX} characters.", field="variables")
        values[name] = value
    if not ContactIdentity.objects.filter(
        account=account, contact_id=conversation.contact_id, kind="whatsapp", opted_out_at__isnull=True
    ).exists():
        raise ServiceError("The customer has no WhatsApp number we may write to.", field="channel")
    return send_message(
        account=account,
        conversation=conversation,
        body=render(template.body, values),
        channel="whatsapp",
        sender_user=user,
        metadata={
            "template": {
                "id": template.pk,
                "name": template.name,
                "content_sid": template.content_sid,
                "variables": values,
            }
        },
    )

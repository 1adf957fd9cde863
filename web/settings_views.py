"""Admin settings pages: the account, its inboxes (members, channel endpoints, the AI agent, fact definitions,
knowledge, playbooks), members, API tokens and the audit log.

The pages render current values; their forms write through the REST API (static/js/console.js), so the API's
validation, role checks and audit entries apply exactly as they do for scripts."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponse
from django.shortcuts import render

from accounts.models import Role
from accounts.selectors import api_token_list, audit_log_list, membership_list
from ai_agent.models import (
    AccountAiSettings,
    AnswerMode,
    Assignment,
    EngineChoice,
    Playbook,
    PlaybookAction,
    PlaybookTrigger,
)
from ai_agent.selectors import agent_settings_get, knowledge_list
from channels_app.api import EMAIL_PROVIDERS
from channels_app.endpoints import endpoint_urls
from channels_app.models import ChannelEndpoint, EndpointKind, MailboxCursor, MessageTemplate, Provider
from channels_app.whatsapp_templates import SOURCES, variables_of
from contacts.selectors import merges_undoable
from inbox.hours import DAYS
from inbox.selectors import inbox_list, inbox_member_list
from memory.definitions import BUILTINS
from memory.kinds import KINDS
from memory.selectors import fact_definition_list

from .context import ConsoleRequest, console_page

DAY_LABELS = dict(
    zip(DAYS, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"], strict=True)
)


@console_page(admin=True)
def overview(request: ConsoleRequest) -> HttpResponse:
    console = request.console
    ai_settings, _ = AccountAiSettings.objects.get_or_create(account=console.account)
    return render(
        request,
        "web/settings/overview.html",
        {
            "inboxes": inbox_list(account=console.account, membership=console.membership),
            "ai_settings": ai_settings,
            "engines": EngineChoice.choices,
        },
    )


# The inbox's settings, a screen each (one long page was 6,000 pixels of scrolling).
INBOX_TABS = [
    ("inbox", "Inbox and members"),
    ("channels", "Channels"),
    ("agent", "AI agent and knowledge"),
    ("facts", "Customer facts"),
    ("playbooks", "Playbooks"),
]


@console_page(admin=True)
def inbox_settings(request: ConsoleRequest, inbox_id: int) -> HttpResponse:
    console = request.console
    inbox = console.inbox(inbox_id)
    members = inbox_member_list(account=console.account, inbox=inbox)
    member_ids = {m.user_id for m in members}
    templates: dict[int, list[MessageTemplate]] = {}
    for template in MessageTemplate.objects.filter(account=console.account, endpoint__inbox=inbox).order_by(
        "removed_at", "name", "language"
    ):
        template.variable_rows = [  # type: ignore[attr-defined]
            {"name": name, "source": template.sources.get(name, ""), "sample": template.samples.get(name, "")}
            for name in variables_of(template.body)
        ]
        templates.setdefault(template.endpoint_id, []).append(template)
    cursors = {c.endpoint_id: c for c in MailboxCursor.objects.filter(account=console.account, endpoint__inbox=inbox)}
    for_inbox = list(ChannelEndpoint.objects.filter(account=console.account, inbox=inbox).order_by("created_at", "id"))
    for endpoint in for_inbox:
        endpoint.mailbox_cursor_or_none = cursors.get(endpoint.pk)  # type: ignore[attr-defined]
    endpoints = [
        {
            "endpoint": endpoint,
            "urls": list(endpoint_urls(endpoint).values()),
            "templates": templates.get(endpoint.pk, []),
        }
        for endpoint in for_inbox
    ]
    hours = [
        {
            "day": day,
            "label": DAY_LABELS[day],
            "range": (inbox.business_hours.get(day) or [["", ""]])[0],
            "closed": day in inbox.business_hours and not inbox.business_hours[day],
        }
        for day in DAYS
    ]
    tab = request.GET.get("tab") if request.GET.get("tab") in dict(INBOX_TABS) else "inbox"
    return render(
        request,
        "web/settings/inbox.html",
        {
            "tab": tab,
            "tabs": INBOX_TABS,
            "inbox": inbox,
            "hours": hours,
            "members": members,
            "candidates": [m for m in membership_list(account=console.account) if m.user_id not in member_ids],
            "endpoints": endpoints,
            "template_sources": list(SOURCES.items()),
            "endpoint_kinds": [(k, label) for k, label in EndpointKind.choices if k in ("sms", "whatsapp", "voice")],
            "email_providers": [(p, label) for p, label in Provider.choices if p in EMAIL_PROVIDERS],
            "agent": agent_settings_get(account=console.account, inbox=inbox),
            "answer_modes": AnswerMode.choices,
            "assignments": Assignment.choices,
            "definitions": fact_definition_list(account=console.account, inbox=inbox),
            "builtin_keys": sorted(BUILTINS),
            "fact_kinds": KINDS,
            "knowledge": knowledge_list(account=console.account, inbox=inbox),
            "playbooks": Playbook.objects.filter(account=console.account, inbox=inbox).order_by("after_minutes", "id"),
            "triggers": PlaybookTrigger.choices,
            "actions": PlaybookAction.choices,
        },
    )


@console_page(admin=True)
def members(request: ConsoleRequest) -> HttpResponse:
    console = request.console
    return render(
        request,
        "web/settings/members.html",
        {"members": membership_list(account=console.account), "roles": Role.choices},
    )


@console_page()
def tokens(request: ConsoleRequest) -> HttpResponse:
    """Everyone manages their own API tokens; admins also see everyone's."""
    console = request.console
    rows = api_token_list(account=console.account, user=None if console.is_admin else console.user)
    return render(request, "web/settings/tokens.html", {"tokens": rows.select_related("user")})


@console_page(admin=True)
def audit(request: ConsoleRequest) -> HttpResponse:
    console = request.console
    # every version of every AI note would drown what people did: those stay in the API's audit log
    rows = audit_log_list(account=console.account).exclude(action="memory.note_written", actor__isnull=True)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    # Merges on this page that may still be undone get an "Undo merge" button.
    undoable = merges_undoable(account=console.account, merge_ids=[e.pk for e in page if e.action == "contact.merged"])
    return render(request, "web/settings/audit.html", {"page": page, "undoable": undoable})


@console_page(admin=True)
def labels(request: ConsoleRequest) -> HttpResponse:
    """Labels and canned responses: the team's shared vocabulary."""
    from inbox.models import CannedResponse, Label
    from inbox.team import VARIABLES

    console = request.console
    return render(
        request,
        "web/settings/labels.html",
        {
            "labels": Label.objects.filter(account=console.account).order_by("name"),
            "canned": CannedResponse.objects.filter(account=console.account)
            .select_related("inbox")
            .order_by("shortcut", "id"),
            "inboxes": console.inboxes,
            "variables": [f"{{{{{obj}.{attr}}}}}" for obj, attrs in VARIABLES.items() for attr in attrs],
        },
    )


@console_page(admin=True)
def integrations(request: ConsoleRequest) -> HttpResponse:
    """Outbound webhooks: the subscriptions, each with its latest deliveries (answer, error, replay)."""
    from integrations.models import WebhookDelivery, WebhookEvent, WebhookSubscription
    from integrations.webhooks import disable_after

    console = request.console
    subscriptions = list(WebhookSubscription.objects.filter(account=console.account).order_by("id"))
    recent: dict[int, list[WebhookDelivery]] = {s.pk: [] for s in subscriptions}
    if subscriptions:
        # the latest 10 of each subscription, in one query
        ranked = (
            WebhookDelivery.objects.filter(account=console.account, subscription__in=subscriptions)
            .annotate(rank=Window(RowNumber(), partition_by=[F("subscription_id")], order_by=F("created_at").desc()))
            .filter(rank__lte=10)
            .order_by("subscription_id", "-created_at", "-id")
        )
        for delivery in ranked:
            recent[delivery.subscription_id].append(delivery)
    return render(
        request,
        "web/settings/integrations.html",
        {
            "subscriptions": [(s, recent[s.pk]) for s in subscriptions],
            "events": WebhookEvent.choices,
            "disable_after": disable_after(),
        },
    )

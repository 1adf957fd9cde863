"""Console pages for agents: the inbox, a conversation with its memory panel, a contact, search.

Pages read through the apps' selectors and render HTML; the regions that change live (the conversation list, the
thread, the header with its actions, the memory panel) are also served alone, for htmx to swap in when the
websocket says something changed. Writes go through the REST API from the browser (see static/js/console.js),
so the console and every integration share one path for validation, permissions and the audit log.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe

from accounts.errors import ServiceError
from accounts.models import Account, Membership
from accounts.selectors import user_membership_list
from ai_agent.next_channel import next_best_channel
from channels_app import whatsapp_templates
from channels_app.models import ChannelEndpoint
from contacts.models import Contact, IdentityKind
from contacts.selectors import contact_get, contact_search, likely_duplicates
from inbox.models import (
    CUSTOMER_CHANNEL_CHOICES,
    ContactLabel,
    Conversation,
    HandledBy,
    Kind,
    Label,
    Priority,
    SavedFilter,
    Status,
)
from inbox.notifications import inbox_people_users, notifications_mark_read
from inbox.selectors import (
    contact_timeline,
    contacts_fully_visible,
    conversation_get,
    conversation_list,
    email_original,
    inbox_member_list,
    message_list,
    message_search,
)
from inbox.services import conversation_mark_read
from memory.selectors import (
    Recall,
    Trend,
    conversation_trend,
    fact_provenance,
    merge_suggestions,
    recall,
    sentiment_series,
)

from .context import ConsoleRequest, console_page
from .selectors import (
    FOLDER_BY_KEY,
    FOLDERS,
    PAGE_SIZE,
    folder_conversations,
    page_of,
    parse_cursor,
    sentiment_points,
)

THREAD_SIZE = 60
TIMELINE_SIZE = 100


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Straight into the console when the person works in one account; otherwise, which account."""
    memberships = list(user_membership_list(user=request.user))  # type: ignore[arg-type]
    if len(memberships) == 1:
        return redirect("web:inbox", account_id=memberships[0].account_id)
    return render(request, "web/home.html", {"memberships": memberships})


# --- The inbox ----------------------------------------------------------------------------------------------


def _list_context(request: ConsoleRequest) -> dict[str, Any]:
    console = request.console
    folder = request.GET.get("folder") or "all"
    if folder not in FOLDER_BY_KEY:
        folder = "all"
    inbox = console.inbox(request.GET["inbox"]) if request.GET.get("inbox") else None
    labels = list(Label.objects.filter(account=console.account).order_by("name"))
    label = next((lab for lab in labels if str(lab.pk) == request.GET.get("label")), None)
    rows = folder_conversations(
        account=console.account,
        membership=console.membership,
        folder=folder,
        inbox_id=inbox.pk if inbox else None,
        label_id=label.pk if label else None,
    )
    conversations, next_cursor = page_of(rows, parse_cursor(request.GET.get("before")))
    query = {
        "folder": folder,
        **({"inbox": str(inbox.pk)} if inbox else {}),
        **({"label": str(label.pk)} if label else {}),
    }
    return {
        "labels": labels,
        "current_label": label,
        "saved_views": SavedFilter.objects.filter(account=console.account, user=console.user).order_by("name"),
        "folders": FOLDERS,
        "folder": FOLDER_BY_KEY[folder],
        "current_inbox": inbox,
        "conversations": conversations,
        "next_cursor": next_cursor,
        "list_query": query,
        "page_size": PAGE_SIZE,
        "paged": bool(request.GET.get("before")),
    }


@console_page()
def inbox_view(request: ConsoleRequest) -> HttpResponse:
    return render(request, "web/inbox.html", _list_context(request))


@console_page()
def conversation_list_partial(request: ConsoleRequest) -> HttpResponse:
    return render(request, "web/_conversation_list.html", _list_context(request))


# --- A conversation -----------------------------------------------------------------------------------------


def _conversation(request: ConsoleRequest, conversation_id: int) -> Conversation:
    console = request.console
    conversation = conversation_get(
        account=console.account, membership=console.membership, conversation_id=conversation_id
    )
    if conversation is None:
        raise Http404("No such conversation")
    return conversation


def _thread_context(request: ConsoleRequest, conversation: Conversation) -> dict[str, Any]:
    console = request.console
    messages = list(message_list(account=console.account, conversation=conversation)[: THREAD_SIZE + 1])
    older = len(messages) > THREAD_SIZE
    conversation_mark_read(account=console.account, user=console.user, conversation=conversation)
    # what notified this person about this conversation is seen now
    notifications_mark_read(account=console.account, user=console.user, conversation=conversation)
    return {"conversation": conversation, "thread": list(reversed(messages[:THREAD_SIZE])), "older": older}


def _channel_options(memory: Recall, conversation: Conversation, suggested: str) -> list[dict[str, Any]]:
    identities = list(memory.contact.identities.all())
    opted_out = {i.kind for i in identities if i.opted_out_at is not None}
    reachable = {i.kind for i in identities if i.opted_out_at is None}
    options = []
    # A phone call is not written: the composer replies in writing (a caller is answered by SMS), and "Call
    # customer" beside it places the call.
    active = "sms" if conversation.active_channel == "voice" else conversation.active_channel
    for value, label in CUSTOMER_CHANNEL_CHOICES:
        if value == "voice":
            continue
        needs = {"sms": "phone", "whatsapp": "whatsapp", "email": "email", "messenger": "messenger",
                 "instagram": "instagram"}.get(value)  # fmt: skip
        if value in ("messenger", "instagram") and needs not in reachable and needs not in opted_out:
            continue  # only someone who wrote there can be answered there: no option for everyone else
        note = ""
        if needs in opted_out and needs not in reachable:
            note = "opted out"
        elif needs and needs not in reachable and value != active:
            note = f"no {IdentityKind(needs).label.lower()} known"
        elif value == "webchat" and conversation.active_channel != "webchat" and not memory.history:
            note = "visitor not on the site"
        options.append(
            {
                "value": value,
                "label": label,
                "note": note,
                "selected": value == active,
                "suggested": value == suggested,
            }
        )
    return options


def _memory_context(request: ConsoleRequest, conversation: Conversation) -> dict[str, Any]:
    console = request.console
    memory = recall(account=console.account, contact=conversation.contact, inbox=conversation.inbox)
    suggestion = next_best_channel(memory, now=timezone.now())
    series = sentiment_series(account=console.account, contact=conversation.contact, inbox=conversation.inbox)
    handoffs = [
        h for h in memory.handoffs if h.conversation_id == conversation.pk or h.to_conversation_id == conversation.pk
    ]
    latest_handoff = handoffs[0] if handoffs else None
    pinned = False
    if latest_handoff is not None and conversation.handled_by == HandledBy.HUMAN:
        replied = any(
            m.conversation_id == conversation.pk
            and m.sender_type == "user"
            and m.kind == Kind.MESSAGE
            and m.created_at > latest_handoff.created_at
            for m in memory.history
        )
        pinned = not replied  # a human has just taken over and not yet written to the customer
    definitions = memory.definitions
    facts = [
        {
            "fact": fact,
            "label": definitions[fact.key].label if fact.key in definitions else fact.key,
            # a shared fact learned by another team says only where and when, never its source
            "provenance": fact_provenance(fact, inbox_ids={memory.inbox.pk}),
            "stale": fact.key in memory.stale,
            "shelf_life": definitions[fact.key].shelf_life_days if fact.key in definitions else None,
            "channel": fact.origin_channel or (fact.source_message.channel if fact.source_message else ""),
        }
        for fact in memory.facts
    ]
    # Likely the same person (one said an address is theirs, the other writes from it): offered to people who
    # may merge them, i.e. who see every conversation of both.
    same_person = [
        s
        for s in merge_suggestions(account=console.account, contact=conversation.contact, memory=memory)
        if contacts_fully_visible(
            account=console.account, membership=console.membership, contact_ids=[conversation.contact_id, s.contact.pk]
        )
    ]
    # and records with the same name and a close phone or email (the same person written twice)
    offered = {s.contact.pk for s in same_person}
    duplicates = [
        d
        for d in likely_duplicates(account=console.account, contact=memory.contact)
        if d.contact.pk not in offered
        and contacts_fully_visible(
            account=console.account, membership=console.membership, contact_ids=[conversation.contact_id, d.contact.pk]
        )
    ]
    return {
        "conversation": conversation,
        "duplicates": duplicates,
        "memory": memory,
        "same_person": same_person,
        "note": memory.notes.get(conversation.pk),
        "facts": facts,
        "missing": [definitions[key].label if key in definitions else key for key in memory.missing],
        "handoff": latest_handoff,
        "handoff_pinned": pinned,
        "previous": [c for c in memory.conversations if c.pk != conversation.pk][:10],
        "suggestion": suggestion,
        "chart": sentiment_points(series[-30:]),
        "trend": memory.sentiment,
        "conversation_mood": _conversation_mood(console.account, memory, conversation),
        "definitions": list(definitions.values()),
    }


def _conversation_mood(account: Account, memory: Recall, conversation: Conversation) -> Trend:
    """This conversation's mood: the figure the list shows and the recall API's conversation_sentiment."""
    current = memory.current_conversation
    if current is not None and current.pk == conversation.pk:
        return memory.conversation_sentiment
    return conversation_trend(account=account, conversation=conversation)


def _header_context(request: ConsoleRequest, conversation: Conversation) -> dict[str, Any]:
    console = request.console
    now = timezone.localtime()
    tomorrow_9 = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    return {
        "conversation": conversation,
        "members": [m.user for m in inbox_member_list(account=console.account, inbox=conversation.inbox)],
        "all_labels": Label.objects.filter(account=console.account).order_by("name"),
        "conversation_labels": [lab.label for lab in conversation.labellings.all()],
        "statuses": Status.choices,
        "priorities": Priority.choices,
        "move_inboxes": [i for i in console.inboxes if i.pk != conversation.inbox_id],
        "snooze_choices": [
            ("1 hour", (now + timedelta(hours=1)).isoformat()),
            ("4 hours", (now + timedelta(hours=4)).isoformat()),
            ("Tomorrow 9:00", tomorrow_9.isoformat()),
            ("Next week", (tomorrow_9 + timedelta(days=6)).isoformat()),
        ],
    }


def _whatsapp_context(conversation: Conversation, memory: Recall, user: Any) -> dict[str, Any]:
    """WhatsApp's window for this customer and the inbox's approved templates, filled from memory: shown with the
    composer when the customer has a WhatsApp number and the inbox a WhatsApp sender."""
    identities = memory.contact.identities.all()
    if not any(i.kind == "whatsapp" and i.opted_out_at is None for i in identities):
        return {}
    templates = whatsapp_templates.templates_for(conversation)
    if (
        not templates
        and not ChannelEndpoint.objects.filter(
            account_id=conversation.account_id, inbox_id=conversation.inbox_id, kind="whatsapp", enabled=True
        ).exists()
    ):
        return {}
    closes = whatsapp_templates.window_closes_at(conversation)
    shown = whatsapp_templates.shown_templates(
        templates, conversation.contact, user, inbox=conversation.inbox, number=str(conversation.number)
    )
    return {"whatsapp": {"open": closes is not None and closes > timezone.now(), "closes": closes, "templates": shown}}


@console_page()
def conversation_view(request: ConsoleRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    if conversation.merged_into_id:  # folded by a contact merge: its thread continues there
        return redirect(
            "web:conversation", account_id=request.console.account.pk, conversation_id=conversation.merged_into_id
        )
    memory = _memory_context(request, conversation)
    # who a note may mention (the "@" picker): the inbox's members and the account's admins, one query
    mentionable = inbox_people_users(request.console.account, conversation.inbox_id)
    context = {
        "mentionable": mentionable,
        **_list_context(request),
        **_header_context(request, conversation),
        **_thread_context(request, conversation),
        **memory,
        "channel_options": _channel_options(memory["memory"], conversation, memory["suggestion"].channel),
        **_whatsapp_context(conversation, memory["memory"], request.console.user),
        "customer_phone": next(
            (i.value for i in memory["memory"].contact.identities.all() if i.kind == "phone" and not i.opted_out_at),
            "",
        ),
    }
    if context.get("whatsapp") and not context["whatsapp"]["open"]:
        for option in context["channel_options"]:
            if option["value"] == "whatsapp" and not option["note"]:
                option["note"] = "window closed: send a template"
    return render(request, "web/conversation.html", context)


@console_page()
def thread_partial(request: ConsoleRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    return render(request, "web/_thread.html", _thread_context(request, conversation))


@console_page()
def email_original_view(request: ConsoleRequest, conversation_id: int, message_id: int) -> HttpResponse:
    """A received email as it came (headers, whole text, sanitized HTML), opened from its message in the thread."""
    conversation = _conversation(request, conversation_id)
    message = (
        message_list(account=request.console.account, conversation=conversation)
        .filter(pk=message_id, channel="email", direction="in")
        .first()
    )
    if message is None:
        raise Http404("No received email with this id in this conversation")
    context = {"conversation": conversation, "message": message, "original": email_original(message)}
    return render(request, "web/email_original.html", context)


@console_page()
def header_partial(request: ConsoleRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    return render(request, "web/_conversation_header.html", _header_context(request, conversation))


@console_page()
def memory_partial(request: ConsoleRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    return render(request, "web/_memory.html", _memory_context(request, conversation))


# --- Contacts and search ------------------------------------------------------------------------------------


def _contact(request: ConsoleRequest, contact_id: int) -> Contact:
    contact = contact_get(account=request.console.account, contact_id=contact_id)
    if contact is None:
        raise Http404("No such contact")
    if contact.merged_into_id:
        raise Http404("Merged")
    return contact


@console_page()
def contact_view(request: ConsoleRequest, contact_id: int) -> HttpResponse:
    console = request.console
    contact = contact_get(account=console.account, contact_id=contact_id)
    if contact is None:
        raise Http404("No such contact")
    if contact.merged_into_id:  # a merged contact's old link leads to the one it was folded into
        return redirect("web:contact", account_id=console.account.pk, contact_id=contact.merged_into_id)
    timeline = list(
        contact_timeline(account=console.account, membership=console.membership, contact=contact)[:TIMELINE_SIZE]
    )
    conversations = list(
        conversation_list(account=console.account, membership=console.membership, contact_id=contact.pk)[:50]
    )
    duplicates = [
        d
        for d in likely_duplicates(account=console.account, contact=contact)
        if contacts_fully_visible(
            account=console.account, membership=console.membership, contact_ids=[contact.pk, d.contact.pk]
        )
    ]
    merge_query = request.GET.get("merge_q", "").strip()
    candidates: list[Contact] = []
    if merge_query:
        candidates = list(
            contact_search(account=console.account, query=merge_query)
            .exclude(pk=contact.pk)
            .prefetch_related("identities")[:10]
        )
    return render(
        request,
        "web/contact.html",
        {
            "contact": contact,
            "duplicates": duplicates,
            "all_labels": Label.objects.filter(account=console.account).order_by("name"),
            "contact_labels": Label.objects.filter(
                account=console.account, pk__in=ContactLabel.objects.filter(contact=contact).values("label_id")
            ).order_by("name"),
            "timeline": list(reversed(timeline)),
            "conversations": conversations,
            "identity_kinds": IdentityKind.choices,
            "merge_query": merge_query,
            "candidates": candidates,
        },
    )


@console_page()
def merge_preview(request: ConsoleRequest, contact_id: int, other_id: int) -> HttpResponse:
    console = request.console
    keep = _contact(request, contact_id)
    drop = _contact(request, other_id)
    if keep.pk == drop.pk:
        raise Http404("Same contact")
    if not contacts_fully_visible(
        account=console.account, membership=console.membership, contact_ids=[keep.pk, drop.pk]
    ):
        raise Http404("Not yours to merge")  # a merge rewrites every team's data: who may see all of it may merge
    counts = {
        c.pk: conversation_list(account=console.account, membership=console.membership, contact_id=c.pk).count()
        for c in (keep, drop)
    }
    return render(request, "web/merge.html", {"keep": keep, "drop": drop, "sides": [keep, drop], "counts": counts})


@console_page()
def search_view(request: ConsoleRequest) -> HttpResponse:
    console = request.console
    query = request.GET.get("q", "").strip()
    contacts: list[Contact] = []
    messages: list[Any] = []
    by_number: Conversation | None = None
    if query:
        contacts = list(contact_search(account=console.account, query=query).prefetch_related("identities")[:20])
        messages = list(
            message_search(account=console.account, membership=console.membership, query=query).select_related(
                "conversation", "contact"
            )[:30]
        )
        number = query.removeprefix("#")
        if number.isdigit():
            by_number = (
                conversation_list(account=console.account, membership=console.membership)
                .filter(number=int(number))
                .first()
            )
    return render(
        request,
        "web/search.html",
        {"q": query, "contacts": contacts, "messages": messages, "by_number": by_number},
    )


# --- Notifications ------------------------------------------------------------------------------------------


@console_page()
def notifications_view(request: ConsoleRequest) -> HttpResponse:
    """This person's notification centre and their preferences."""
    from inbox.models import Notification, NotificationKind

    console = request.console
    rows = list(
        Notification.objects.filter(account=console.account, user=console.user).order_by("-created_at", "-id")[:100]
    )
    return render(
        request,
        "web/notifications.html",
        {
            "notifications": rows,
            "unread": sum(1 for n in rows if n.read_at is None),
            "kinds": NotificationKind.choices,
            "prefs": console.membership,
        },
    )


# --- Reports ------------------------------------------------------------------------------------------------


@console_page()
def reports_view(request: ConsoleRequest) -> HttpResponse:
    """The team's figures over a range (default the last 30 days): tiles, server-drawn charts, tables per inbox,
    agent, channel and label, and the CSV of each. Read from the daily rollup, never from the messages."""
    from datetime import timedelta as _td

    from accounts.errors import ServiceError
    from reports.charts import bars, lines
    from reports.query import filters_from, key_names
    from reports.rollup import report_rows, sentiment_by_inbox_day, totals_of

    console = request.console
    try:
        filters = filters_from(request.GET, console.account, console.membership)
        error = ""
    except ServiceError as exc:
        filters, error = filters_from({}, console.account, console.membership), exc.message
    names = key_names(console.account, "inbox")
    by_inbox = report_rows(console.account, filters, "inbox")
    totals = totals_of(by_inbox)
    by_day = {r["key"]: r for r in report_rows(console.account, filters, "day")}
    days = [filters.first + _td(days=n) for n in range((filters.last - filters.first).days + 1)]
    labels = [d.isoformat() for d in days]
    volume = bars(
        labels,
        {
            "Opened": [by_day.get(d, {}).get("opened") or 0 for d in days],
            "Resolved": [by_day.get(d, {}).get("resolved") or 0 for d in days],
        },
        "Conversations opened and resolved per day",
    )
    # sentiment by inbox over time: one line per inbox (at most six), daily mean of the customers' messages
    series = sentiment_by_inbox_day(console.account, filters)
    mood = lines(
        labels,
        {names.get(i, str(i)): [series[i].get(d) for d in days] for i in sorted(series)[:6]},
        "Customer sentiment by inbox (daily mean, -1 to 1)",
        -1.0,
        1.0,
    )
    tables = []
    groups = (("inbox", "By inbox"), ("agent", "By agent"), ("channel", "By channel"), ("label", "By label"))
    for group, title in groups:
        group_names = names if group == "inbox" else key_names(console.account, group)
        rows = by_inbox if group == "inbox" else report_rows(console.account, filters, group)
        for row in rows:
            row["name"] = group_names.get(row["key"], "Unassigned" if group == "agent" else "—")
        tables.append({"group": group, "title": title, "rows": rows})
    query = request.GET.urlencode()
    return render(
        request,
        "web/reports.html",
        {
            "filters": filters,
            "error": error,
            "totals": totals,
            "volume_chart": mark_safe(volume),  # noqa: S308 - built by reports.charts, every text escaped
            "mood_chart": mark_safe(mood),  # noqa: S308
            "tables": tables,
            "query": query,
            "inbox_choices": sorted(names.items(), key=lambda kv: kv[1]),
            "channel_choices": [(v, lab) for v, lab in CUSTOMER_CHANNEL_CHOICES],
            "label_choices": Label.objects.filter(account=console.account).order_by("name"),
        },
    )


@console_page()
def labels_css(request: ConsoleRequest) -> HttpResponse:
    """The account's label colours as a stylesheet (a chip is `class="chip l-<id>"`): the pages' Content Security
    Policy allows no inline style. Colours are #rrggbb, checked when saved."""
    rows = Label.objects.filter(account=request.console.account).values_list("pk", "colour")
    css = "".join(f".l-{pk}{{--chip:{colour}}}" for pk, colour in rows if re.fullmatch(r"#[0-9a-fA-F]{6}", colour))
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "private, no-cache"
    return response


# --- Contacts -----------------------------------------------------------------------------------------------

CONTACTS_PAGE = 50


@console_page()
def contacts_view(request: ConsoleRequest) -> HttpResponse:
    """Every customer of the account, most recent first (search by name, phone in any format or email), with
    their addresses and labels; a page of 50 and a link to the next."""
    from contacts.selectors import contact_list

    console = request.console
    query = request.GET.get("q", "").strip()
    rows = (
        contact_search(account=console.account, query=query).prefetch_related("identities")
        if query
        else contact_list(account=console.account)
    ).prefetch_related("labellings__label")
    offset = int(request.GET["offset"]) if request.GET.get("offset", "").isdigit() else 0
    contacts = list(rows[offset : offset + CONTACTS_PAGE + 1])
    return render(
        request,
        "web/contacts.html",
        {
            "contacts": contacts[:CONTACTS_PAGE],
            "query": query,
            "next_offset": offset + CONTACTS_PAGE if len(contacts) > CONTACTS_PAGE else None,
        },
    )


SANDBOX_DEFAULTS = {"phone": "+1 312 555 0142", "email": "maria@example.com", "name": "Maria Lopez"}


def _sandbox_customer(request: ConsoleRequest) -> dict[str, str]:
    """Who the person plays: from the query, else the demo customer; phone and email normalized when they can be."""
    from contacts.addresses import normalize_email, normalize_phone

    chosen = {key: request.GET.get(key, default).strip()[:320] for key, default in SANDBOX_DEFAULTS.items()}
    try:
        chosen["phone_e164"] = normalize_phone(chosen["phone"], region=request.console.account.default_region)
    except ServiceError:
        chosen["phone_e164"] = ""
    try:
        chosen["email_normal"] = normalize_email(chosen["email"])
    except ServiceError:
        chosen["email_normal"] = ""
    return chosen


def _sandbox_inbox_ids(request: ConsoleRequest) -> list[int] | None:
    console = request.console
    return None if console.is_admin else [i.pk for i in console.inboxes]


def _sandbox_messages(request: ConsoleRequest, customer: dict[str, str]) -> list[Any]:
    from channels_app.sandbox import transcript

    rows = []
    inbox_ids = _sandbox_inbox_ids(request)
    for address in (customer["phone_e164"], customer["email_normal"]):
        if address:
            rows += transcript(account=request.console.account, customer=address, inbox_ids=inbox_ids)
    return sorted(rows, key=lambda m: (m.created_at, m.pk))


@console_page()
def sandbox_view(request: ConsoleRequest) -> HttpResponse:
    """The channel sandbox: play a customer on SMS, WhatsApp, a phone call and email, and see what the team's
    replies look like on the customer's side."""
    from channels_app.sandbox import sandbox_endpoints

    console = request.console
    customer = _sandbox_customer(request)
    return render(
        request,
        "web/sandbox.html",
        {
            "endpoints": sandbox_endpoints(console.account, _sandbox_inbox_ids(request)),
            "customer": customer,
            "sandbox_messages": _sandbox_messages(request, customer),
            "query": urlencode({k: customer[k] for k in SANDBOX_DEFAULTS}),
        },
    )


@console_page()
def conversation_new_view(request: ConsoleRequest) -> HttpResponse:
    """Write first to a customer: pick the inbox and channel (those its connected numbers and addresses allow),
    the customer (a contact, or a number or address), and the message; it is sent like any reply."""
    from channels_app.models import ChannelEndpoint
    from channels_app.start import START_CHANNELS

    console = request.console
    inboxes = list(console.inboxes)
    kinds: dict[int, list[str]] = {}
    for inbox_id, kind in (
        ChannelEndpoint.objects.filter(
            account=console.account, inbox_id__in=[i.pk for i in inboxes], kind__in=START_CHANNELS, enabled=True
        )
        .values_list("inbox_id", "kind")
        .order_by("kind")
        .distinct()
    ):
        kinds.setdefault(inbox_id, []).append(kind)
    contact = None
    if (request.GET.get("contact") or "").isdigit():
        contact = contact_get(account=console.account, contact_id=int(request.GET["contact"]))
    choices = [(inbox, kind) for inbox in inboxes for kind in kinds.get(inbox.pk, [])]
    templates = whatsapp_templates.shown_templates(
        whatsapp_templates.templates_of(console.account, [i.pk for i in inboxes]), contact, console.user
    )
    return render(
        request, "web/conversation_new.html", {"choices": choices, "contact": contact, "templates": templates}
    )


@console_page()
def sandbox_transcript(request: ConsoleRequest) -> HttpResponse:
    customer = _sandbox_customer(request)
    return render(
        request,
        "web/_sandbox_transcript.html",
        {
            "customer": customer,
            "sandbox_messages": _sandbox_messages(request, customer),
            "query": urlencode({k: customer[k] for k in SANDBOX_DEFAULTS}),
        },
    )


@console_page(admin=True)
def welcome_view(request: ConsoleRequest) -> HttpResponse:
    """The setup checklist of a new account: the website chat (snippet and a preview to try it), teammates, a
    channel (or the sandbox), the AI agent, business hours; each ticked from what the account has."""
    from ai_agent.models import AgentSettings
    from channels_app.endpoints import endpoint_urls
    from channels_app.models import ChannelEndpoint
    from inbox.models import Message

    console = request.console
    account = console.account
    endpoints = list(ChannelEndpoint.objects.filter(account=account, enabled=True).select_related("inbox"))
    widget = next((e for e in endpoints if e.kind == "webchat"), None)
    inbox = widget.inbox if widget else (console.inboxes[0] if console.inboxes else None)
    steps = {
        "chat": Message.objects.filter(account=account, channel="webchat", direction="in").exists(),
        "team": Membership.objects.filter(account=account).count() > 1,
        "channel": any(e.kind != "webchat" for e in endpoints),
        "ai": AgentSettings.objects.filter(account=account, enabled=True).exists(),
        "hours": bool(inbox and inbox.business_hours),
    }
    return render(
        request,
        "web/welcome.html",
        {
            "widget": widget,
            "snippet": endpoint_urls(widget)["script"][1] if widget else "",
            "inbox": inbox,
            "steps": steps,
            "done": sum(steps.values()),
            "total": len(steps),
            "sandbox": any(e.options.get("sandbox") for e in endpoints),
        },
    )


@console_page(admin=True)
def contact_import_view(request: ConsoleRequest) -> HttpResponse:
    """Upload a CSV of contacts (a plain form post): on success, on to the column mapping."""
    from integrations.imports import import_upload
    from integrations.models import ContactImport

    console = request.console
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ServiceError("Choose a CSV file.", field="file")
            made = import_upload(
                account=console.account, actor=console.user, filename=upload.name or "", raw=upload.read()
            )
            return redirect("web:contact-import", account_id=console.account.pk, import_id=made.pk)
        except ServiceError as exc:
            error = exc.message
    recent = ContactImport.objects.filter(account=console.account).defer("content").order_by("-created_at")[:10]
    return render(request, "web/contact_import.html", {"error": error, "recent": recent}, status=400 if error else 200)


@console_page(admin=True)
def contact_import_detail(request: ConsoleRequest, import_id: int) -> HttpResponse:
    """Map the columns (then the import starts in a worker), or follow its progress and read its report."""
    from integrations.imports import FIELDS, import_queue, preview
    from integrations.models import ContactImport

    console = request.console
    contact_import = ContactImport.objects.filter(account=console.account, pk=import_id).first()
    if contact_import is None:
        raise Http404
    error = ""
    if request.method == "POST":
        mapping = {h: request.POST.get(f"col-{i}", "ignore") for i, h in enumerate(contact_import.headers)}
        try:
            import_queue(contact_import=contact_import, mapping=mapping)
            return redirect("web:contact-import", account_id=console.account.pk, import_id=contact_import.pk)
        except ServiceError as exc:
            error = exc.message
    template = (
        "web/_import_progress.html" if request.GET.get("part") == "progress" else "web/contact_import_detail.html"
    )
    return render(
        request,
        template,
        {
            "imp": contact_import,
            "columns": list(enumerate(contact_import.headers)),
            "fields": FIELDS.items(),
            "rows": preview(contact_import) if contact_import.state == "mapping" else [],
            "error": error,
        },
        status=400 if error else 200,
    )

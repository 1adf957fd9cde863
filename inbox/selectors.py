"""Reads of the inbox core, scoped to the account and to the inboxes the member may see.

Admins see every inbox of the account; agents only those they are members of.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import Account, Membership
from accounts.tenant_db import index_lookup
from contacts.models import Contact

from .models import (
    BODY_SEARCH_CONFIG,
    Attachment,
    Conversation,
    ConversationLabel,
    ConversationRead,
    Inbox,
    InboxMember,
    Kind,
    Message,
)


def visible_inboxes(*, account: Account, membership: Membership) -> QuerySet[Inbox]:
    inboxes = Inbox.objects.filter(account=account)
    if not membership.is_admin:
        inboxes = inboxes.filter(
            pk__in=InboxMember.objects.filter(account=account, user_id=membership.user_id).values("inbox_id")
        )
    return inboxes


def inbox_list(*, account: Account, membership: Membership) -> QuerySet[Inbox]:
    return (
        visible_inboxes(account=account, membership=membership)
        .annotate(
            open_count=Count("conversations", filter=~Q(conversations__status="resolved")),
            member_count=Count("members", distinct=True),
        )
        .order_by("name", "id")
    )


def inbox_member_list(*, account: Account, inbox: Inbox) -> QuerySet[InboxMember]:
    return InboxMember.objects.select_related("user").filter(account=account, inbox=inbox).order_by("created_at", "id")


# A conversation's labels, by name: one query for a whole page of conversations.
LABELLINGS = Prefetch("labellings", queryset=ConversationLabel.objects.select_related("label").order_by("label__name"))


def conversation_list(
    *,
    account: Account,
    membership: Membership,
    inbox_id: int | None = None,
    status: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    mine: bool = False,
    handled_by: str | None = None,
    contact_id: int | None = None,
    snoozed: bool | None = None,
    label_id: int | None = None,
) -> QuerySet[Conversation]:
    """Conversations the member may see, newest activity first, filtered like the console's folders."""
    # A conversation folded into another by a contact merge is a pointer, not a row of any folder.
    conversations = Conversation.objects.filter(account=account, merged_into__isnull=True)
    if not membership.is_admin:
        # Admins see every inbox: the account alone is the filter. An agent's inboxes go in as a list of ids (one
        # small query) rather than a subquery, so the planner reads the newest rows from an index in order
        # instead of joining every conversation of those inboxes and sorting them (118 ms -> see performance.md).
        conversations = conversations.filter(
            inbox_id__in=list(
                InboxMember.objects.filter(account=account, user_id=membership.user_id).values_list(
                    "inbox_id", flat=True
                )
            )
        )
    if inbox_id is not None:
        conversations = conversations.filter(inbox_id=inbox_id)
    if status:
        conversations = conversations.filter(status=status)
    if assignee_id is not None:
        conversations = conversations.filter(assignee_id=assignee_id)
    if unassigned:
        conversations = conversations.filter(assignee__isnull=True)
    if mine:
        conversations = conversations.filter(assignee_id=membership.user_id)
    if handled_by:
        conversations = conversations.filter(handled_by=handled_by)
    if contact_id is not None:
        conversations = conversations.filter(contact_id=contact_id)
    if snoozed is True:
        conversations = conversations.filter(snoozed_until__isnull=False)
    elif snoozed is False:
        conversations = conversations.filter(snoozed_until__isnull=True)
    if label_id is not None:
        conversations = conversations.filter(labellings__label_id=label_id)
    return (
        conversations.select_related("contact", "assignee", "inbox")
        .prefetch_related(LABELLINGS)
        .order_by("-last_activity_at", "-id")
    )


def conversations_visible(*, account: Account, membership: Membership) -> QuerySet[Conversation]:
    """The conversations the member may see, for fetching one by id (the inbox check is a subquery: no extra
    query, and nothing to keep in order). Lists go through conversation_list."""
    return Conversation.objects.filter(
        account=account, inbox__in=visible_inboxes(account=account, membership=membership)
    ).select_related("contact", "assignee", "inbox")


def conversation_get(*, account: Account, membership: Membership, conversation_id: int) -> Conversation | None:
    """One conversation as the API shows it (with its labels)."""
    rows = conversations_visible(account=account, membership=membership).prefetch_related(LABELLINGS)
    return rows.filter(pk=conversation_id).first()


def _message_rows(messages: QuerySet[Message]) -> QuerySet[Message]:
    # "sentiment" is Shared Memory's reading of a customer message (memory.SentimentReading, one per message),
    # joined by its relation name: shown on the message, no query of its own and no import of the layer above.
    return messages.select_related("sender_user", "sentiment").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
    )


def message_list(*, account: Account, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's thread, newest first (pages walk back in time)."""
    return _message_rows(Message.objects.filter(account=account, conversation=conversation)).order_by(
        "-created_at", "-id"
    )


def contact_timeline(*, account: Account, membership: Membership, contact: Contact) -> QuerySet[Message]:
    """Every message with the contact, across channels and conversations, in the inboxes the member may see;
    newest first. Private notes and activity lines included: the team's own timeline."""
    return (
        _message_rows(
            Message.objects.filter(
                account=account,
                contact=contact,
                inbox__in=visible_inboxes(account=account, membership=membership),
            )
        )
        .annotate(conversation_number=F("conversation__number"))
        .order_by("-created_at", "-id")
    )


SEARCH_CANDIDATES = 500
# WhatsApp lets a business write freely only within 24 hours of the customer's last message; after that, only an
# approved template.
WHATSAPP_WINDOW = timedelta(hours=24)


def whatsapp_window_open(*, account: Account, contact_id: int) -> bool:
    """The customer wrote to us on WhatsApp within WHATSAPP_WINDOW (their window is theirs, whatever the
    conversation)."""
    return Message.objects.filter(
        account=account,
        contact_id=contact_id,
        channel="whatsapp",
        direction="in",
        created_at__gte=timezone.now() - WHATSAPP_WINDOW,
    ).exists()


def message_search(
    *, account: Account, membership: Membership, query: str, inbox_id: int | None = None
) -> QuerySet[Message]:
    """Customer and team messages matching `query` (English stemming, web-search syntax: "quoted phrases",
    -exclusions, OR), best match first, in the inboxes the member may see, ranked among the newest
    SEARCH_CANDIDATES matches (a common word matches a tenth of a large account's messages: ranking them all would
    read every one)."""
    search = SearchQuery(query, config=BODY_SEARCH_CONFIG, search_type="websearch")
    messages = Message.objects.filter(
        account=account,
        kind__in=[Kind.MESSAGE, Kind.NOTE],
        inbox__in=visible_inboxes(account=account, membership=membership),
    )
    if inbox_id is not None:
        messages = messages.filter(inbox_id=inbox_id)
    # Outside the row policy, which would keep the text index out of the plan; the account and the member's
    # inboxes are in the filter, and the rows are read under the policy below.
    with index_lookup():
        newest = _newest_matches(messages, search)
    return (
        _message_rows(Message.objects.filter(account=account, pk__in=newest))
        .annotate(
            rank=SearchRank(F("search_vector"), search),
            conversation_number=F("conversation__number"),
        )
        .order_by("-rank", "-created_at", "-id")
    )


SEARCH_RECENT_WINDOW = 20_000  # the account's newest messages, where a common word's newest matches are
SEARCH_SORT_LIMIT = 1000  # all the matches of a word this rare are sorted by date here


def _newest_matches(messages: QuerySet[Message], search: SearchQuery) -> list[int]:
    """The ids of the newest SEARCH_CANDIDATES messages matching `search`, each step bounded whatever the account's
    size or the word's frequency (bench/growth_bench.py, up to a 10M-message account):

    1. From the text index (msg_search), unordered, at most SEARCH_SORT_LIMIT + 1: when there are no more, they
       are all the matches, sorted here by date (a rare word: one index probe).
    2. A common word: the account's messages walked newest first (msg_account_recent, each row's stored vector
       checked), stopping at SEARCH_CANDIDATES matches or after SEARCH_RECENT_WINDOW messages (a word in one
       message of twenty stops after about 10,000).
    3. Only a word rare recently but frequent in the past reaches a date-ordered search over all its matches."""
    matching = messages.filter(search_vector=search)
    found = list(matching.order_by().values_list("pk", "created_at")[: SEARCH_SORT_LIMIT + 1])
    if len(found) <= SEARCH_SORT_LIMIT:
        found.sort(key=lambda row: (row[1], row[0]), reverse=True)
        return [pk for pk, _ in found[:SEARCH_CANDIDATES]]
    window_sql, window_params = (
        messages.order_by("-created_at", "-id").values("pk", "created_at", "search_vector")[:SEARCH_RECENT_WINDOW]
    ).query.sql_with_params()
    search_sql, search_params = messages.query.get_compiler(connection=connection).compile(search)
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner prices the walk by how msg_account_recent's order is scattered on disk, not by how few rows it
        # stops after, and would rather read and sort all of an account's messages (a 100k-message account: 48 ms
        # against 5 ms for the walk); for this one statement, no sort.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(
            f"SELECT w.pk FROM ({window_sql}) w WHERE w.search_vector @@ {search_sql}"  # noqa: S608 (compiled SQL)
            " ORDER BY w.created_at DESC, w.pk DESC LIMIT %s",
            [*window_params, *search_params, SEARCH_CANDIDATES],
        )
        recent = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET LOCAL enable_sort TO DEFAULT")
    if len(recent) == SEARCH_CANDIDATES:
        return recent
    return list(matching.order_by("-created_at", "-id").values_list("pk", flat=True)[:SEARCH_CANDIDATES])


def _read_since_last_inbound(user_id: int) -> Exists:
    return Exists(
        ConversationRead.objects.filter(
            user_id=user_id, conversation_id=OuterRef("pk"), read_at__gte=OuterRef("last_inbound_at")
        )
    )


def with_unread(conversations: QuerySet[Conversation], *, user_id: int) -> QuerySet[Conversation]:
    """Annotate `is_unread`: the customer wrote since this person last read the conversation."""
    return conversations.annotate(
        is_unread=ExpressionWrapper(
            Q(last_inbound_at__isnull=False) & ~Q(_read_since_last_inbound(user_id)), output_field=BooleanField()
        )
    )


UNREAD_CAP = 100  # the navigation says "99+" beyond this; counting further would cost a scan of every open row

_UNREAD_COUNTS = """
SELECT i.id,
       (SELECT count(*) FROM (
            SELECT 1 FROM inbox_conversation c
            WHERE c.account_id = i.account_id AND c.inbox_id = i.id
              AND c.status <> 'resolved' AND c.last_inbound_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM inbox_conversationread r
                              WHERE r.user_id = %s AND r.conversation_id = c.id AND r.read_at >= c.last_inbound_at)
            ORDER BY c.last_activity_at DESC
            LIMIT %s) AS capped)
FROM inbox_inbox i
WHERE i.account_id = %s AND i.id = ANY(%s)
"""


def unread_counts(*, account: Account, membership: Membership, inbox_ids: list[int] | None = None) -> dict[int, int]:
    """Open conversations per visible inbox in which the customer wrote since this person last read them, counted
    up to UNREAD_CAP per inbox (newest first, on the conv_inbox_recent index), so the cost is bounded by the cap
    and not by the account's volume. `inbox_ids`, when given, must come from visible_inboxes (the console passes
    the list it already loaded for the navigation)."""
    if inbox_ids is None:
        inbox_ids = list(visible_inboxes(account=account, membership=membership).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(_UNREAD_COUNTS, [membership.user_id, UNREAD_CAP, account.pk, inbox_ids])
        return {inbox_id: count for inbox_id, count in cursor.fetchall() if count}


def contacts_fully_visible(*, account: Account, membership: Membership, contact_ids: list[int]) -> bool:
    """Whether the member sees every conversation of these contacts: merging them or removing one of their
    addresses rewrites every team's data about them, so an agent may do it only then (admins always)."""
    if membership.is_admin:
        return True
    visible = visible_inboxes(account=account, membership=membership)
    return not (
        Conversation.objects.filter(account=account, contact_id__in=contact_ids).exclude(inbox__in=visible).exists()
    )


def email_details(message: Message) -> dict[str, Any] | None:
    """What the thread and the API show of a received or sent email beyond its body (from its metadata)."""
    if message.channel != "email":
        return None
    meta = message.metadata or {}
    return {
        "subject": str(meta.get("subject", "")),
        "headers": dict(meta.get("headers") or {}),
        "quoted": str(meta.get("quoted", "")),
        "forward": bool(meta.get("forward")),
        "forwarded_emails": list(meta.get("forwarded_emails") or []),
        "signed": str(meta.get("signed", "")),
        "sender_note": str(meta.get("sender_note", "")),
        "repaired": str(meta.get("repaired", "")),
        "has_html": bool(meta.get("html")),
        "cc": list(meta.get("cc") or []),
        "bcc": list(meta.get("bcc") or []),
    }


def email_original(message: Message) -> dict[str, Any]:
    """A received email as it came: headers, the whole text (what was stripped from the body put back) and the
    HTML part as sanitized when it was received."""
    meta = message.metadata or {}
    text = "\n\n".join(part for part in (message.body, str(meta.get("quoted", ""))) if part)
    return {
        "headers": dict(meta.get("headers") or {}),
        "text": text,
        "html": str(meta.get("html", "")),
        "forwarded_emails": list(meta.get("forwarded_emails") or []),
    }

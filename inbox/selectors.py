"""Reads of the inbox core, scoped to the account and to the inboxes the member may see.

Admins see every inbox of the account; agents only those they are members of.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Account, Membership
from contacts.models import Contact

from .models import (
    BODY_SEARCH_CONFIG,
    Attachment,
    Conversation,
    ConversationRead,
    Inbox,
    InboxMember,
    Kind,
    Message,
    Status,
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
) -> QuerySet[Conversation]:
    """Conversations the member may see, newest activity first, filtered like the console's folders."""
    conversations = Conversation.objects.filter(
        account=account, inbox__in=visible_inboxes(account=account, membership=membership)
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
    return conversations.select_related("contact", "assignee", "inbox").order_by("-last_activity_at", "-id")


def conversation_get(*, account: Account, membership: Membership, conversation_id: int) -> Conversation | None:
    return conversation_list(account=account, membership=membership).filter(pk=conversation_id).first()


def _message_rows(messages: QuerySet[Message]) -> QuerySet[Message]:
    return messages.select_related("sender_user").prefetch_related(
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


def message_search(
    *, account: Account, membership: Membership, query: str, inbox_id: int | None = None
) -> QuerySet[Message]:
    """Customer and team messages matching `query` (English stemming, web-search syntax: "quoted phrases",
    -exclusions, OR), best match first, in the inboxes the member may see."""
    search = SearchQuery(query, config=BODY_SEARCH_CONFIG, search_type="websearch")
    vector = SearchVector("body", config=BODY_SEARCH_CONFIG)
    messages = Message.objects.filter(
        account=account,
        kind__in=[Kind.MESSAGE, Kind.NOTE],
        inbox__in=visible_inboxes(account=account, membership=membership),
    )
    if inbox_id is not None:
        messages = messages.filter(inbox_id=inbox_id)
    return (
        _message_rows(messages)
        .annotate(match=vector)
        .filter(match=search)
        .annotate(
            rank=SearchRank(vector, search),
            conversation_number=F("conversation__number"),
        )
        .order_by("-rank", "-created_at", "-id")
    )


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


def unread_counts(*, account: Account, membership: Membership) -> dict[int, int]:
    """Open conversations per visible inbox in which the customer wrote since this person last read them."""
    rows = (
        Conversation.objects.filter(
            account=account,
            inbox__in=visible_inboxes(account=account, membership=membership),
            last_inbound_at__isnull=False,
        )
        .exclude(status=Status.RESOLVED)
        .filter(~_read_since_last_inbound(membership.user_id))
        .values("inbox_id")
        .annotate(unread=Count("id"))
        .values_list("inbox_id", "unread")
    )
    return dict(rows)
